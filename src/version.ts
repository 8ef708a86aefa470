// The version `orch --version` prints; a test keeps it equal to package.json's.
export const VERSION = "0.1.0";

// Stamped by build.ts into the compiled orch (bun build --define): absent when run from source.
declare const ORCH_BUILT_AT: string | undefined;
declare const ORCH_COMMITTED_AT: string | undefined;

/**
 * Which build of VERSION this is: when it was built, and the date of the commit it was built from (absent
 * when built outside a git checkout). The version stays the same between releases, so host add tells an
 * older build from a newer one by these (`orch --version --json` shows them as `build`).
 */
export interface BuildStamp {
  built_at: string;
  committed_at?: string;
}

/** This orch's build stamp; undefined run from source (and for a build made without build.ts's stamp). */
export const BUILD: BuildStamp | undefined = typeof ORCH_BUILT_AT === "string"
  ? { built_at: ORCH_BUILT_AT, ...(typeof ORCH_COMMITTED_AT === "string" ? { committed_at: ORCH_COMMITTED_AT } : {}) }
  : undefined;

/**
 * Whether build `a` was made after build `b`: by their commits' dates when both have one and these differ
 * (a checkout of older code built today is still the older orch), else by when each was built.
 */
export function builtAfter(a: BuildStamp, b: BuildStamp): boolean {
  if (a.committed_at && b.committed_at && a.committed_at !== b.committed_at) return a.committed_at > b.committed_at;
  return a.built_at > b.built_at;
}
