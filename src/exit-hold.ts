// What must end before the process does. A host's channel still closing (ssh-mux.ts) is closed and let go
// of first: a process that leaves OpenSSH's master mid-channel can bring the master down. main.ts waits
// for these before it exits, after a command's output as after its error.

const endings = new Set<() => Promise<void>>();
const holds = new Set<Promise<unknown>>();

/** `end` runs before the process exits; the exit waits for it to settle. */
export function endBeforeExit(end: () => Promise<void>): void {
  endings.add(end);
}

/** The process does not exit before `until` settles (nor does it wait for it once it has). */
export function holdExitUntil(until: Promise<unknown>): void {
  holds.add(until);
  const release = () => void holds.delete(until);
  until.then(release, release);
}

/** Runs what endBeforeExit registered and waits for the holds; settles once each has (failures included). */
export function endAll(): Promise<void> {
  return Promise.allSettled([...[...endings].map((end) => end()), ...holds]).then(() => undefined);
}
