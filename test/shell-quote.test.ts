// quoteForShell: the one function that quotes arguments for the remote shell. Each hostile word must come
// back from a real shell exactly as given, and run nothing.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commandLine, POSIX_SHELL_CHECK, POSIX_SHELL_OK, quoteForShell, scriptLine } from "../src/hosts/shell-quote.ts";
import { checkDestination, checkHostName, checkRemotePath, gitUrlFor } from "../src/hosts/destination.ts";
import { controlDir, controlSocketsFit, sshArgv } from "../src/adapters/ssh.ts";
import { tempDir } from "./helpers.ts";

const canary = () => path.join(tempDir("orch-quote-"), "pwned");

function hostile(marker: string): string[] {
  return [
    "",
    "plain",
    "two words",
    "it's",
    "'",
    "''",
    "\\'",
    '"double" and \\"escaped\\"',
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `; touch ${marker}`,
    `&& touch ${marker} || true`,
    `| touch ${marker}`,
    `$((1+1)) \${HOME} $HOME $0 $@ $* $#`,
    "line one\nline two\n",
    "\r\t\v\f",
    "-n",
    "--json",
    "-",
    "--",
    "*",
    "~",
    "~root",
    "{a,b}",
    "!event",
    "a\\b\\\\c\\",
    "héllo wörld ✓ 日本 🚀",
    "\u0001\u001b[31mred",
    "x".repeat(10_000),
    `'$(touch ${marker})'`,
    `"; touch ${marker}; echo "`,
  ];
}

function shells(): string[] {
  return ["sh", "bash", "dash", "zsh", "ksh", "fish"].filter((s) => spawnSync("sh", ["-c", `command -v ${s}`]).status === 0);
}

test("every hostile word comes back whole from a real shell, and nothing runs", () => {
  for (const shell of shells()) {
    const marker = canary();
    const words = hostile(marker);
    // The shell parses the quoted line; printf hands each resulting word back, NUL-terminated.
    const line = `printf '%s\\0' ${quoteForShell(words)}`;
    const result = spawnSync(shell, ["-c", line], { encoding: "utf8" });
    assert.is(result.status, 0, `${shell}: ${result.stderr}`);
    assert.equal(result.stdout.split("\0").slice(0, -1), words, shell);
    assert.not.ok(fs.existsSync(marker), `${shell} ran something`);
  }
});

test("the quoted command line is one argv for the program, whatever it holds", () => {
  const words = ["printf", "%s|", "a b", "-x", "", "'"];
  const result = spawnSync("sh", ["-c", quoteForShell(words)], { encoding: "utf8" });
  assert.is(result.stdout, "a b|-x||'|");
});

test("NUL and an empty command are refused, not passed on cut short", () => {
  assert.throws(() => quoteForShell(["a\0b"]), /NUL/);
  assert.throws(() => quoteForShell([]), /no command/);
});

const POSIX = new Set(["sh", "bash", "dash", "ksh"]);

test("scriptLine: a script gets its arguments whole, straight in a POSIX login shell, through sh -c in any", () => {
  const script = "printf '%s\\0' \"$@\"";
  for (const shell of shells()) {
    for (const posix of POSIX.has(shell) ? [true, false] : [false]) {
      const marker = canary();
      const words = hostile(marker);
      const command = scriptLine(script, "orch-test", words, posix);
      assert.is("line" in command, posix, `${shell}: the form`);
      // What ssh hands the login shell: `SHELL -c LINE`.
      const result = spawnSync(shell, ["-c", commandLine(command)], { encoding: "utf8" });
      assert.is(result.status, 0, `${shell} (posix ${posix}): ${result.stderr}`);
      assert.equal(result.stdout.split("\0").slice(0, -1), words, `${shell} (posix ${posix})`);
      assert.not.ok(fs.existsSync(marker), `${shell} ran something`);
    }
  }
  // No arguments: "$@" is empty, not the shell's own.
  const countLine = commandLine(scriptLine('echo "$#"', "orch-test", [], true));
  const none = spawnSync("bash", ["-c", countLine], { encoding: "utf8" });
  assert.is(none.stdout, "0\n");
});

test("the login shell check passes in sh, bash and dash, and fails in zsh and fish", () => {
  for (const shell of shells()) {
    const result = spawnSync(shell, ["-c", commandLine(POSIX_SHELL_CHECK)], { encoding: "utf8" });
    const passed = result.status === 0 && result.stdout.split("\n").includes(POSIX_SHELL_OK);
    assert.is(passed, POSIX.has(shell), `${shell}: ${result.stdout} ${result.stderr}`);
  }
  const installed = shells().includes("zsh") && shells().includes("fish");
  assert.ok(installed, "zsh and fish are installed (.ci/run installs them)");
  // What a bash's rc files may have set before the command runs: each would change orch's scripts.
  for (const set of ["set -f", "set -u", "set -e", "set -x", "shopt -s nullglob", "shopt -s failglob", "IFS=:"]) {
    const result = spawnSync("bash", ["-c", `${set}\n${commandLine(POSIX_SHELL_CHECK)}`], { encoding: "utf8" });
    assert.not.ok(result.stdout.split("\n").includes(POSIX_SHELL_OK), `${set}: ${result.stdout}`);
  }
});

test("ssh gets the command line as one argument after --, behind orch's options", () => {
  const argv = sshArgv("user@example", ["orch", "send", "w", "$(reboot)"], { ORCH_SSH_CONTROL_DIR: tempDir("orch-ctl-") });
  const dash = argv.indexOf("--");
  assert.is(argv[dash - 1], "user@example");
  assert.is(argv.length, dash + 2);
  assert.is(argv[dash + 1], "'orch' 'send' 'w' '$(reboot)'");
  for (const option of ["BatchMode=yes", "ControlMaster=auto"]) assert.ok(argv.includes(option), option);
  // A socket named by orch (so it can find it without ssh), one per destination and client config, and
  // within the length a socket path allows.
  const dir = tempDir("orch-ctl-");
  const socketOf = (dest: string, config?: string) => {
    const options = sshArgv(dest, ["true"], { ORCH_SSH_CONTROL_DIR: dir, ...(config ? { ORCH_SSH_CONFIG: config } : {}) });
    return options.find((a) => a.startsWith("ControlPath="))!.slice("ControlPath=".length);
  };
  const mine = socketOf("user@example");
  assert.match(mine, new RegExp(`^${dir}/[0-9a-f]{40}$`));
  assert.is(socketOf("user@example"), mine);
  assert.is.not(socketOf("other@example"), mine);
  assert.is.not(socketOf("user@example", "/etc/other_config"), mine);
});

test("control sockets: a folder too long for a socket path is passed over, or refused when given", () => {
  const long = tempDir(`orch-${"long-temporary-folder-".repeat(3)}`);
  const short = fs.mkdtempSync("/tmp/oc-");
  const chosen = controlDir({ XDG_RUNTIME_DIR: long, TMPDIR: short });
  assert.ok(controlSocketsFit(chosen), chosen);
  assert.is(chosen, path.join(short, `orch-ssh-${process.getuid!()}`));
  assert.ok(fs.statSync(chosen).isDirectory());
  fs.rmSync(short, { recursive: true });
  assert.throws(() => controlDir({ ORCH_SSH_CONTROL_DIR: path.join(long, "ctl") }), /too long for ssh's control socket/);
  assert.not.ok(fs.existsSync(path.join(long, "ctl")), "nothing made for a refused folder");
  assert.throws(() => controlDir({ ORCH_SSH_CONTROL_DIR: "ctl-relative" }), /is not an absolute path/);
  assert.not.ok(fs.existsSync("ctl-relative"), "nor for a relative one");
});

test("destinations: user@host, ssh:// URLs and aliases pass; options and spaces do not", () => {
  const good = ["box", "me@box", "ssh://me@box:2222", "ssh://box", "me@10.0.0.1", "ssh://a@b@box:22/"];
  for (const ok of good) assert.is(checkDestination(ok), ok);
  const badUrls = ["ssh://", "ssh://me@", "ssh://box:", "ssh://box:0", "ssh://box:99999", "ssh://:22"];
  // ssh prints its usage for these, which read as an unreachable host (exit 1) with that text as the reason.
  const refusedBySsh = ["ssh://box:abc", "ssh://box:0x16", "ssh://box:22:33", "ssh://@box", "ssh://me@box?x", "@box"];
  // A host that starts with -, in either form: ssh would refuse it only once run, as if unreachable.
  const optionHosts = ["u@-oProxy", "a@b@-c", "ssh://u@-oProxy:22", "ssh://-x"];
  const others = ["", "-oProxyCommand=touch x", "me@box extra", "box\nother", "ssh://me@box/path"];
  for (const bad of [...others, ...badUrls, ...refusedBySsh, "me@", ...optionHosts]) {
    assert.throws(() => checkDestination(bad), /bad ssh destination/, bad);
  }
  assert.is(gitUrlFor("ssh://me@box:2222", "orch/repo"), "ssh://me@box:2222/~/orch/repo");
  assert.is(gitUrlFor("alias", "/srv/clone"), "ssh://alias/srv/clone");
  assert.is(gitUrlFor("alias", "a/%2e%2e/100%"), "ssh://alias/~/a/%252e%252e/100%25", "git decodes %XX: % goes as %25");
  assert.is(checkRemotePath("~/work/repo/"), "work/repo");
  for (const bad of ["", "~", "-rf", "a/../b", ".", "./", "././", "~/.", "~user/x", "~root"]) {
    assert.throws(() => checkRemotePath(bad), /bad --path/, bad);
  }
  const spellings = [["./work", "work"], ["/srv/.", "/srv"], ["a//b", "a/b"], ["~/./a/./b/", "a/b"], ["//srv", "/srv"]];
  for (const [given, folder] of [...spellings, ["sp ace/$(x)", "sp ace/$(x)"]]) assert.is(checkRemotePath(given!), folder, given);
  for (const bad of ["", "-x", ".hidden", "a/b", "a b"]) assert.throws(() => checkHostName(bad), /bad host name/, bad);
});

test.run();
