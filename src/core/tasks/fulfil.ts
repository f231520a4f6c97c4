import { appendAudit } from '../audit/chain.js';
import { authorizeFulfil } from '../authz.js';
import type { Catalog } from '../catalog/catalog.js';
import { addSeconds } from '../duration.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { requireGrant } from '../grants/grants.js';
import { revocationLatency } from '../grants/worker.js';
import type { Via } from '../model.js';
import type { Sql } from '../sql.js';
import type { TaskRow } from './tasks.js';

export type FulfilOutcome = 'done' | 'failed';

export interface FulfilInput {
  taskId: string;
  actor: string;
  outcome: FulfilOutcome;
  comment: string;
  via: Via;
}

/**
 * A fulfiller closes a task: `done` is their attestation that the change is made (the grant
 * becomes `active`, or `revoked`, attested rather than verified by read-back), `failed` says it
 * could not be (the grant fails, or stays `revoke_failed` for another revocation). One
 * transaction: the grant locked first (as the job outcomes lock it), then the task; the rule in
 * core/authz.ts; the task, the grant and their audit events.
 */
export async function fulfilTask(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  f: FulfilInput,
): Promise<void> {
  if (f.outcome !== 'done' && f.outcome !== 'failed')
    throw new InputError(`the outcome is done or failed, not "${String(f.outcome)}"`, {
      code: 'invalid_outcome',
      field: 'outcome',
    });
  if (f.outcome === 'failed' && f.comment.trim() === '')
    throw new InputError('a failed task needs a comment saying why', {
      code: 'comment_required',
      field: 'comment',
    });
  await sql.transaction(async (tx) => {
    const [peek] = await tx.query<{ grant_id: string }>(
      'SELECT grant_id FROM fulfilment_tasks WHERE id = $1',
      [f.taskId],
    );
    if (!peek) throw new NotFoundError(`unknown task "${f.taskId}"`, { field: 'id' });
    const g = await requireGrant(tx, peek.grant_id, true);
    const [t] = await tx.query<TaskRow>('SELECT * FROM fulfilment_tasks WHERE id = $1 FOR UPDATE', [
      f.taskId,
    ]);
    const [actor] = await tx.query<{ status: string }>(
      'SELECT status FROM identities WHERE id = $1',
      [f.actor],
    );
    authorizeFulfil(f.actor, {
      taskId: t!.id,
      fulfillers: { group: t!.fulfillers, members: catalog.groups.get(t!.fulfillers) ?? [] },
      holder: g.identity,
      grantOwner: g.owner,
      actorStatus: actor?.status,
    });
    if (t!.state !== 'open')
      throw new ConflictError(
        `task ${t!.id} is ${t!.state}${t!.closed_by ? ` (by ${t!.closed_by})` : ''}; only an open task can be fulfilled`,
        { code: 'task_closed' },
      );
    const task = t!;
    const expected = task.op === 'apply' ? ['provisioning'] : ['revoking', 'revoke_failed'];
    if (!expected.includes(g.state))
      throw new ConflictError(
        `grant ${g.id} is ${g.state}; its ${task.op} task can no longer be fulfilled`,
        { code: 'task_stale' },
      );
    const refs = [g.id, ...(g.request_id ? [g.request_id] : [])];
    const comment = f.comment.trim() || null;
    await tx.query(
      `UPDATE fulfilment_tasks SET state = $2, closed_at = $3, closed_by = $4, comment = $5 WHERE id = $1`,
      [task.id, f.outcome, now, f.actor, comment],
    );
    await appendAudit(tx, now, {
      actor: f.actor,
      action: 'task.fulfilled',
      subject: task.id,
      refs,
      details: { grant: g.id, op: task.op, outcome: f.outcome, comment, via: f.via },
    });
    const attestation = { attested: true, verified: false, attested_by: f.actor, task: task.id };
    if (task.op === 'apply') {
      if (f.outcome === 'done') {
        // Duration runs from the attested activation, as it does from a verified one.
        const expires = g.duration === null ? null : addSeconds(now, g.duration);
        await tx.query(
          `UPDATE grants SET state = 'active', granted_at = $2, verified_at = NULL, expires_at = $3,
                  attested_by = $4, attested_at = $2, failure = NULL WHERE id = $1`,
          [g.id, now, expires, f.actor],
        );
        await appendAudit(tx, now, {
          actor: f.actor,
          action: 'grant.activated',
          subject: g.id,
          refs,
          details: {
            ...attestation,
            granted_at: now.toISOString(),
            expires_at: expires?.toISOString() ?? null,
            comment,
          },
        });
      } else {
        const why = `fulfilment task ${task.id} failed (${f.actor}): ${comment}`;
        await tx.query(`UPDATE grants SET state = 'failed', failure = $2 WHERE id = $1`, [
          g.id,
          why,
        ]);
        await appendAudit(tx, now, {
          actor: f.actor,
          action: 'grant.failed',
          subject: g.id,
          refs,
          details: { op: 'apply', task: task.id, error: comment, permanent: true },
        });
      }
      return;
    }
    if (f.outcome === 'done') {
      // From due to attested removal: what a fulfiller took is what the latency says.
      const latency = revocationLatency(g, now);
      await tx.query(
        `UPDATE grants SET state = 'revoked', revoked_at = $2, verified_at = NULL,
                revocation_latency_seconds = $3, removal_attested_by = $4, failure = NULL WHERE id = $1`,
        [g.id, now, latency, f.actor],
      );
      await appendAudit(tx, now, {
        actor: f.actor,
        action: 'grant.revoked',
        subject: g.id,
        refs,
        details: {
          ...attestation,
          verified_removed: false,
          trigger: g.revoke_trigger,
          applied_at: g.granted_at?.toISOString() ?? null,
          revoked_at: now.toISOString(),
          revocation_latency_seconds: latency,
          comment,
        },
      });
    } else {
      // Not `failed`: the access may still be there. Revoking it again opens a new task.
      const why = `revoke task ${task.id} failed (${f.actor}): ${comment}`;
      await tx.query(`UPDATE grants SET state = 'revoke_failed', failure = $2 WHERE id = $1`, [
        g.id,
        why,
      ]);
      await appendAudit(tx, now, {
        actor: f.actor,
        action: 'grant.revoke_failed',
        subject: g.id,
        refs,
        details: { task: task.id, error: comment, permanent: true },
      });
    }
  });
}
