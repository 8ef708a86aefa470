// The compiled binary starts with JavaScriptCore's JIT reluctant to compile (--compile-jit-policy in
// compile-flags.ts): most orch commands end within milliseconds, and compiling their run-once code only
// took CPU from the programs they wait on (git, ssh, the host). A process that settles in to run long (a
// wait, the MCP server) puts the JIT back to normal. Node and Deno have no such policy: nothing to do.

type BunUnsafe = { unsafe?: { setJITPolicy?: (scale: number) => void } };

/** This process will run long: the JIT's normal tier-up thresholds from now on. */
export function runningLong(): void {
  (globalThis as { Bun?: BunUnsafe }).Bun?.unsafe?.setJITPolicy?.(1);
}
