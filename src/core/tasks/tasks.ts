import { appendAudit } from '../audit/chain.js';
import { addSeconds } from '../duration.js';
import { newId } from '../ids.js';
import type { AccessRef, Pending } from '../ports/connector.js';
import type { Sql } from '../sql.js';

/**
 * Fulfilment tasks (migration 012, ADR 0018): the change a connector of people answered `Pending`
 * for. Opened in the outcome transaction of the grant's job, with its audit event; closed by
 * `fulfilTask`. The job itself is done once the task is open, so nothing retries a change that
 * waits on a person.
 */
export interface TaskRow {
  id: string;
  grant_id: string;
  op: 'apply' | 'revoke';
  connector: string;
  fulfillers: string;
  account: string;
  target: Record<string, string>;
  instructions: string | null;
  state: 'open' | 'done' | 'failed' | 'cancelled';
  opened_at: Date;
  due_at: Date;
  closed_at: Date | null;
  closed_by: string | null;
  comment: string | null;
}

/** Without an SLA of its own, a task is overdue after two days. */
const DEFAULT_DUE_SECONDS = 2 * 86400;

/**
 * Opens the task for a grant's pending change in the caller's transaction (the job's outcome),
 * unless one is open for it already: a job that ran again keeps the task people already see. A
 * revoke task cancels the grant's open apply task; the fulfiller then removes what may be there.
 */
export async function openTask(
  tx: Sql,
  now: Date,
  actor: string,
  t: {
    grant: { id: string; request_id: string | null };
    op: 'apply' | 'revoke';
    connector: string;
    ref: AccessRef;
    pending: Pending;
    /** Who fulfils when the connector names no group: the governance group. */
    fallbackGroup: string;
  },
): Promise<string> {
  const refs = [t.grant.id, ...(t.grant.request_id ? [t.grant.request_id] : [])];
  if (t.op === 'revoke') {
    const cancelled = await tx.query<{ id: string }>(
      `UPDATE fulfilment_tasks SET state = 'cancelled', closed_at = $2, closed_by = $3,
              comment = 'the grant is being revoked'
        WHERE grant_id = $1 AND op = 'apply' AND state = 'open' RETURNING id`,
      [t.grant.id, now, actor],
    );
    for (const c of cancelled)
      await appendAudit(tx, now, {
        actor,
        action: 'task.cancelled',
        subject: c.id,
        refs,
        details: { op: 'apply', reason: 'the grant is being revoked' },
      });
  }
  const [open] = await tx.query<{ id: string }>(
    `SELECT id FROM fulfilment_tasks WHERE grant_id = $1 AND op = $2 AND state = 'open'`,
    [t.grant.id, t.op],
  );
  if (open) return open.id;
  const id = t.pending.task ?? newId('tsk');
  const fulfillers = t.pending.fulfillers ?? t.fallbackGroup;
  const due = addSeconds(now, t.pending.dueInSeconds ?? DEFAULT_DUE_SECONDS);
  await tx.query(
    `INSERT INTO fulfilment_tasks (id, grant_id, op, connector, fulfillers, account, target, instructions, opened_at, due_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      id,
      t.grant.id,
      t.op,
      t.connector,
      fulfillers,
      t.ref.account,
      JSON.stringify(t.ref.target),
      t.pending.instructions ?? null,
      now,
      due,
    ],
  );
  await tx.query('UPDATE grants SET failure = NULL WHERE id = $1', [t.grant.id]);
  await appendAudit(tx, now, {
    actor,
    action: 'task.opened',
    subject: id,
    refs,
    details: {
      grant: t.grant.id,
      op: t.op,
      connector: t.connector,
      fulfillers,
      account: t.ref.account,
      target: t.ref.target,
      due_at: due.toISOString(),
    },
  });
  return id;
}
