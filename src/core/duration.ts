import { InputError } from './errors.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses "90d", "8h", "30m", "45s", "2w" into seconds; anything else is an input error naming `what`. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^(\d+)([smhdw])$/.exec(String(text).trim());
  if (!m || Number(m[1]) <= 0) {
    throw new InputError(
      `${what}: "${text}" is not a duration (use a positive number with s, m, h, d or w, e.g. 8h or 90d)`,
      { code: 'invalid_duration', field: what.replace(/^--/, '') },
    );
  }
  const seconds = Number(m[1]) * UNITS[m[2]!]!;
  if (seconds > MAX_DURATION_SECONDS) {
    throw new InputError(
      `${what}: "${text}" is too long (at most ${MAX_DURATION_SECONDS / 86400}d, about 68 years)`,
      { code: 'duration_too_long', field: what.replace(/^--/, '') },
    );
  }
  return seconds;
}

/**
 * Durations are stored as 32-bit seconds; a longer one would overflow the column (and a date
 * that far out is no expiry at all). 24855 days is the last whole day below 2^31 seconds.
 */
export const MAX_DURATION_SECONDS = 24855 * 86400;

export function formatDuration(seconds: number): string {
  // Days, not weeks: configuration is written in days (7d, 90d), so messages echo it that way.
  for (const [u, n] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds % n === 0) return `${seconds / n}${u}`;
  }
  // Not a whole unit (the time left on a grant, say): largest units first, to the minute.
  const parts: string[] = [];
  let rest = Math.round(seconds / 60) * 60;
  for (const [u, n] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return parts.join('') || `${seconds}s`;
}

export function addSeconds(d: Date, seconds: number): Date {
  return new Date(d.getTime() + seconds * 1000);
}
