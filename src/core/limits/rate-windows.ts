import { type Sql, prepared } from '../sql.js';

/** One key's count in the window that holds `now`, and how long until that window ends. */
export interface WindowCount {
  key: string;
  hits: number;
  windowStart: Date;
  resetInMs: number;
}

/** The fixed window holding `now`: windows start at multiples of windowMs since the epoch. */
export function windowStart(now: Date, windowMs: number): Date {
  return new Date(Math.floor(now.getTime() / windowMs) * windowMs);
}

/*
 * One statement counts requests against all their keys: `$3` holds how many to add to each key of
 * `$1`. A key's row is reset when its window has passed; every node computes the same window from
 * the clock, so they add to one count. Callers pass the keys in a fixed order, so two statements
 * lock shared rows in the same order.
 */
export const HIT_SQL = `
  INSERT INTO rate_windows AS r (key, window_start, hits)
  SELECT k, $2::timestamptz, n FROM unnest($1::text[], $3::int[]) AS u(k, n)
  ON CONFLICT (key) DO UPDATE
    SET hits = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.hits + EXCLUDED.hits
                    ELSE EXCLUDED.hits END,
        window_start = EXCLUDED.window_start
  RETURNING key, hits`;
const HIT = prepared(HIT_SQL);

/** Counts one request against each key (distinct) in the window holding `now`. */
export async function countHits(
  sql: Sql,
  keys: readonly string[],
  windowMs: number,
  now: Date,
): Promise<WindowCount[]> {
  if (keys.length === 0) return [];
  const start = windowStart(now, windowMs);
  const rows = await sql.query<{ key: string; hits: number }>(HIT, [
    keys,
    start.toISOString(),
    keys.map(() => 1),
  ]);
  return windowCounts(rows, start, windowMs, now);
}

/** The counts RETURNING gave, in the window that starts at `start` (windowStart's). */
export function windowCounts(
  rows: readonly { key: string; hits: number | string }[],
  start: Date,
  windowMs: number,
  now: Date,
): WindowCount[] {
  const resetInMs = start.getTime() + windowMs - now.getTime();
  return rows.map((r) => ({ key: r.key, hits: Number(r.hits), windowStart: start, resetInMs }));
}

/** Deletes the rows of windows that ended before the one holding `now`. */
export async function forgetEndedWindows(sql: Sql, windowMs: number, now: Date): Promise<void> {
  await sql.query(`DELETE FROM rate_windows WHERE window_start < $1`, [
    windowStart(now, windowMs).toISOString(),
  ]);
}
