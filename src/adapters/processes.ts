// Ending an agent and everything it started: zx's kill() walks the process tree (through ps) so
// tools the agent spawned in other process groups end with it.

export async function terminateTree(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const { kill } = await import("zx");
  try {
    await kill(pid, "SIGTERM");
  } catch {
    // It may have ended between the check and the kill.
  }
  for (let i = 0; i < 20; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    await kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
  return true;
}
