// The `bun build --compile` flags of dist/orch, shared by build.ts and the benchmark's floor (a one-line
// program that must be compiled exactly as orch is for the ratios to mean something).

export const BUN_COMPILE_FLAGS = [
  // A compiled bun binary would otherwise read the .env and bunfig.toml of whatever folder it runs in:
  // a project's ORCH_ID or GIT_DIR in .env must not steer orch.
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
  "--bytecode", "--format=esm", "--splitting", "--minify", "--sourcemap=none",
];
