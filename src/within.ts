// Waiting on something for at most so long: the one race against a timer, for doctor's tool queries and
// for the host commands that must answer at once.

/** What settledWithin gives when the time ran out first. */
export const LATE = Symbol("late");

/** `promise`'s value (or its rejection), or LATE when it has not settled within `ms`. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | typeof LATE> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof LATE>((resolve) => (timer = setTimeout(() => resolve(LATE), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
