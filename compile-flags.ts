// The `bun build --compile` flags of dist/orch, shared by build.ts and the benchmark's floor (a one-line
// program that must be compiled exactly as orch is for the ratios to mean something).

export const BUN_COMPILE_FLAGS = [
  // A compiled bun binary would otherwise read the .env and bunfig.toml of whatever folder it runs in:
  // a project's ORCH_ID or GIT_DIR in .env must not steer orch.
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
  "--bytecode", "--format=esm", "--splitting", "--minify", "--sourcemap=none",
  // JavaScriptCore's tier-up thresholds ×1000 until a process settles in to run long (src/jit.ts): an orch
  // command lives milliseconds, and compiling its run-once code took CPU from git, ssh and the host it waits
  // on (orch --version 8.9 ms instead of 11.4, a remote empty poll ~1.5 ms less, the floor 0.5 ms less).
  "--compile-jit-policy=1000",
];
