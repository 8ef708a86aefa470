// What `orch host add NAME DEST --path DIR` accepts, checked in one place, and the git URL of a host's
// clone made from it: DEST is what ssh takes (user@host, ssh://user@host:port, an alias of ~/.ssh/config).

import { invalid } from "../errors.ts";

const isNameChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 45;

/** A host's name: [A-Za-z0-9._-], 1 to 64 characters, not starting with - or . (it names a file). */
export function checkHostName(name: string): string {
  let ok = name.length > 0 && name.length <= 64 && !name.startsWith("-") && !name.startsWith(".");
  for (let i = 0; ok && i < name.length; i++) ok = isNameChar(name.charCodeAt(i));
  if (!ok) {
    throw invalid(`bad host name ${JSON.stringify(name)}: use 1 to 64 of [A-Za-z0-9._-], not starting with - or .`);
  }
  return name;
}

function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 127) return true;
  }
  return false;
}

/**
 * DEST as ssh takes it. A leading - would be read by ssh as an option (ssh -oProxyCommand=… runs a
 * program), and spaces or control characters are no host name: both are refused.
 */
export function checkDestination(dest: string): string {
  if (dest === "" || dest.startsWith("-") || hasSpaceOrControl(dest) || dest.length > 1024) {
    const forms = "give user@host, ssh://user@host:port or a Host alias of your ssh config";
    throw invalid(`bad ssh destination ${JSON.stringify(dest)}: ${forms}`);
  }
  if (dest.startsWith("ssh://")) {
    const authority = dest.slice("ssh://".length).replace(/\/$/, "");
    if (authority.includes("/")) {
      const why = "an ssh:// destination has no path (the clone's folder is --path)";
      throw invalid(`bad ssh destination ${JSON.stringify(dest)}: ${why}`);
    }
    // ssh would print its usage for these (a port that is no number, an empty user, a ? or #), which reads
    // as if the host were unreachable.
    const hostAndPort = /^(\[[^\]]+\]|[^:?#[\]]+)(?::(\d*))?$/.exec(authority.slice(authority.lastIndexOf("@") + 1));
    const port = hostAndPort?.[2];
    const portOk = port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
    if (!hostAndPort || !portOk || authority.startsWith("@")) {
      const want = "give ssh://[user@]host[:port], with a port from 1 to 65535";
      throw invalid(`bad ssh destination ${JSON.stringify(dest)}: ${want}`);
    }
  } else if (dest.startsWith("@") || dest.endsWith("@")) {
    throw invalid(`bad ssh destination ${JSON.stringify(dest)}: give user@host, with neither of them empty`);
  }
  // ssh takes the user up to the last @. A host after it that starts with - ssh refuses only once run, which
  // read as an unreachable host (for an ssh:// one, with ssh's usage text as the reason).
  const authority = dest.replace(/^ssh:\/\//, "");
  if (authority.slice(authority.lastIndexOf("@") + 1).startsWith("-")) {
    throw invalid(`bad ssh destination ${JSON.stringify(dest)}: a host name does not start with -`);
  }
  return dest;
}

/**
 * The clone's folder on the host: relative paths (and ~/…) are relative to the remote user's home,
 * where ssh starts its commands. Stored without the ~/, so no remote shell has to expand it.
 */
export function checkRemotePath(dir: string): string {
  let clean = dir.startsWith("~/") ? dir.slice(2) : dir;
  clean = clean.replace(/\/+$/, "");
  const unusable = clean === "" || clean === "~" || clean.startsWith("-") ||
    clean.includes("\0") || clean.includes("\n") || clean.split("/").includes("..");
  if (unusable) {
    const instead = "give a folder on the host (relative to its home, or absolute), without ..";
    throw invalid(`bad --path ${JSON.stringify(dir)}: ${instead}`);
  }
  // The home itself would become the clone (every file there in its worktree), as ~ would.
  if (!clean.startsWith("/") && clean.split("/").every((part) => part === "." || part === "")) {
    const want = "give a folder in it (default: ~/orch/<repo>)";
    throw invalid(`bad --path ${JSON.stringify(dir)}: that is the home folder itself; ${want}`);
  }
  // No shell expands it (orch passes the path as data): ~user/x would be a folder named "~user" in the home.
  if (clean.startsWith("~")) {
    const want = "give the folder relative to the ssh user's home, or absolute";
    throw invalid(`bad --path ${JSON.stringify(dir)}: ~user is not expanded; ${want}`);
  }
  // One spelling per folder (./x, x/. and x are one clone), as for a host added again.
  const parts = clean.split("/").filter((part) => part !== "" && part !== ".");
  return `${clean.startsWith("/") ? "/" : ""}${parts.join("/")}`;
}

/** The default clone folder: ~/orch/<repo>. */
export function defaultRemotePath(repoName: string): string {
  return `orch/${repoName.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[.-]+/, "") || "repo"}`;
}

/**
 * git's ssh URL for a folder on DEST; a relative folder goes through /~/ (git expands it on the host). git
 * decodes %XX in such a URL, so a % of the folder's own name goes as %25: the clone made there, not another.
 */
export function gitUrlFor(dest: string, dir: string): string {
  const authority = dest.startsWith("ssh://") ? dest.slice("ssh://".length).replace(/\/$/, "") : dest;
  const folder = dir.startsWith("/") ? dir : `/~/${dir}`;
  return `ssh://${authority}${folder.replaceAll("%", "%25")}`;
}
