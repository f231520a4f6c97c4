/** The one clock every expiry, timeout and SLA reads, so tests and simulations can move it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(
  at: Date | string,
): Clock & { set(to: Date | string): void; advance(seconds: number): void } {
  let t = new Date(at);
  return {
    now: () => new Date(t),
    set: (to) => {
      t = new Date(to);
    },
    advance: (seconds) => {
      t = new Date(t.getTime() + seconds * 1000);
    },
  };
}
