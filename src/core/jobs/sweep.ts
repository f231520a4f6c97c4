import { lapseOverdue } from '../approvals/act.js';
import { startRevocation } from '../grants/grants.js';
import { remindExpiring } from '../grants/reminders.js';
import { type WorkerDeps, drainOutbox } from '../grants/worker.js';
import type { Sql } from '../sql.js';

/** Expiry is enforced by the engine: every active grant past `expires_at` starts revocation. */
export async function expireDue(sql: Sql, now: Date, actor: string): Promise<number> {
  return sql.transaction(async (tx) => {
    const due = await tx.query<{ id: string }>(
      `SELECT id FROM grants WHERE state = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED`,
      [now],
    );
    for (const g of due) await startRevocation(tx, now, actor, g.id, 'expiry', 'expired');
    return due.length;
  });
}

export interface SweepResult {
  expired: number;
  reminded: number;
  lapsed: number;
  jobs_done: number;
  jobs_failed: number;
}

/**
 * Runs all due work now: expiries, expiry reminders, lapses, then the outbox (provisioning,
 * revocation, retries).
 */
export async function sweep(d: WorkerDeps): Promise<SweepResult> {
  const now = d.clock.now();
  let expired = 0;
  for (
    let n = await expireDue(d.sql, now, d.workerId);
    n > 0;
    n = await expireDue(d.sql, now, d.workerId)
  )
    expired += n;
  const reminded = await remindExpiring(d.sql, d.catalog, now, d.workerId);
  const lapsed = await lapseOverdue(d.sql, now);
  const { done, failed } = await drainOutbox(d);
  return { expired, reminded, lapsed, jobs_done: done, jobs_failed: failed };
}
