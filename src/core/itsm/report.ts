import type { Sql } from '../sql.js';
import { OPEN_TICKET } from './outbound.js';
import { WRITEBACK } from './writeback.js';

/**
 * Updates owed to tickets, and tickets owed to requests (outbound openings): waiting (due, first attempt), failing (the system down or throttling,
 * retried with backoff) and failed (given up: a ticket gone, a transition the workflow lacks).
 * A failing write-back is a visible state here and in /metrics, never only a log line.
 */
export async function ticketUpdates(sql: Sql) {
  const [r] = await sql.query<Record<string, number | string>>(
    `SELECT count(*) FILTER (WHERE state = 'pending' AND last_error IS NULL) AS waiting,
            count(*) FILTER (WHERE state = 'pending' AND last_error IS NOT NULL) AS failing,
            count(*) FILTER (WHERE state = 'failed') AS failed
       FROM jobs WHERE kind = ANY ($1::text[]) AND state IN ('pending', 'failed')`,
    [[WRITEBACK, OPEN_TICKET]],
  );
  return {
    waiting: Number(r?.waiting ?? 0),
    failing: Number(r?.failing ?? 0),
    failed: Number(r?.failed ?? 0),
  };
}
