import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { InputError, RefusedError } from '../errors.js';
import { fulfil } from '../requests/submit.js';
import type { Sql } from '../sql.js';

interface StageRow {
  idx: number;
  rule: string;
  approvers: string[];
  min_approvals: number;
  state: string;
}

/**
 * Acts on a request's current stage as `actor`. Nobody approves a request they requested or
 * that is for themselves; only the stage's resolved approvers act; one rejection rejects; the
 * last stage's approval carries out the request in the same transaction.
 */
export async function actOnRequest(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  a: { requestId: string; actor: string; verdict: 'approve' | 'reject'; comment: string },
): Promise<void> {
  if (a.verdict === 'reject' && a.comment.trim() === '')
    throw new InputError('reject needs --comment saying why');
  await sql.transaction(async (tx) => {
    const [r] = await tx.query<{
      id: string;
      requester: string;
      beneficiary: string;
      status: string;
      lapses_at: Date | null;
    }>(
      'SELECT id, requester, beneficiary, status, lapses_at FROM requests WHERE id = $1 FOR UPDATE',
      [a.requestId],
    );
    if (!r) throw new InputError(`unknown request "${a.requestId}"`);
    if (r.status !== 'pending_approval')
      throw new InputError(`request ${r.id} is ${r.status}, not pending approval`);
    // Past the timeout it has lapsed, whether or not a sweep has recorded that yet.
    if (r.lapses_at && r.lapses_at <= now) {
      throw new InputError(
        `request ${r.id} lapsed at ${r.lapses_at.toISOString()} (approval timeout); it can no longer be decided`,
      );
    }
    if (a.actor === r.requester || a.actor === r.beneficiary) {
      throw new RefusedError(
        `${a.actor} may not ${a.verdict} request ${r.id}: nobody approves a request they made or that is for themselves`,
      );
    }
    const [stage] = await tx.query<StageRow>(
      `SELECT idx, rule, approvers, min_approvals, state FROM approval_stages WHERE request_id = $1 AND state = 'pending'`,
      [r.id],
    );
    if (!stage) throw new Error(`request ${r.id} is pending with no pending stage`);
    if (!stage.approvers.includes(a.actor)) {
      throw new RefusedError(
        `${a.actor} is not an approver of the current stage (${stage.rule}: ${stage.approvers.join(', ') || 'nobody'}) of ${r.id}`,
      );
    }
    // Resolved approvers may have left or been suspended since the request was routed.
    const [actor] = await tx.query<{ status: string }>(
      'SELECT status FROM identities WHERE id = $1',
      [a.actor],
    );
    if (actor?.status !== 'active') {
      throw new RefusedError(
        `${a.actor} is ${actor?.status ?? 'unknown'} and may not act on ${r.id}`,
      );
    }
    const dup = await tx.query(
      'SELECT 1 FROM approvals WHERE request_id = $1 AND stage_idx = $2 AND approver = $3',
      [r.id, stage.idx, a.actor],
    );
    if (dup.length > 0)
      throw new InputError(
        `${a.actor} has already acted on stage ${stage.idx} (${stage.rule}) of ${r.id}`,
      );
    await tx.query(
      'INSERT INTO approvals (request_id, stage_idx, approver, verdict, comment, at) VALUES ($1, $2, $3, $4, $5, $6)',
      [r.id, stage.idx, a.actor, a.verdict, a.comment, now],
    );
    await appendAudit(tx, now, {
      actor: a.actor,
      action: a.verdict === 'approve' ? 'request.approved_stage' : 'request.rejected',
      subject: r.id,
      details: { stage: stage.idx, rule: stage.rule, comment: a.comment },
    });
    if (a.verdict === 'reject') {
      await tx.query(
        `UPDATE approval_stages SET state = 'rejected' WHERE request_id = $1 AND idx = $2`,
        [r.id, stage.idx],
      );
      await tx.query(`UPDATE requests SET status = 'rejected', closed_at = $2 WHERE id = $1`, [
        r.id,
        now,
      ]);
      return;
    }
    const [count] = await tx.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM approvals WHERE request_id = $1 AND stage_idx = $2 AND verdict = 'approve'`,
      [r.id, stage.idx],
    );
    if (Number(count?.n) < stage.min_approvals) return;
    await tx.query(
      `UPDATE approval_stages SET state = 'approved' WHERE request_id = $1 AND idx = $2`,
      [r.id, stage.idx],
    );
    const next = await tx.query<{ idx: number }>(
      `UPDATE approval_stages SET state = 'pending' WHERE request_id = $1 AND idx = $2 RETURNING idx`,
      [r.id, stage.idx + 1],
    );
    if (next.length > 0) return;
    await tx.query(`UPDATE requests SET status = 'approved', closed_at = $2 WHERE id = $1`, [
      r.id,
      now,
    ]);
    await appendAudit(tx, now, {
      actor: a.actor,
      action: 'request.approved',
      subject: r.id,
      details: { stages: stage.idx + 1 },
    });
    await fulfil(tx, catalog, now, r.id, a.actor);
  });
}

/** Requests not decided within the approval timeout lapse. */
export async function lapseOverdue(sql: Sql, now: Date): Promise<number> {
  return sql.transaction(async (tx) => {
    const due = await tx.query<{ id: string }>(
      `SELECT id FROM requests WHERE status = 'pending_approval' AND lapses_at <= $1 ORDER BY lapses_at FOR UPDATE SKIP LOCKED`,
      [now],
    );
    for (const r of due) {
      await tx.query(`UPDATE requests SET status = 'lapsed', closed_at = $2 WHERE id = $1`, [
        r.id,
        now,
      ]);
      await tx.query(
        `UPDATE approval_stages SET state = 'lapsed' WHERE request_id = $1 AND state IN ('pending', 'waiting')`,
        [r.id],
      );
      await appendAudit(tx, now, {
        actor: 'gatehouse',
        action: 'request.lapsed',
        subject: r.id,
        details: { reason: 'approval timeout' },
      });
    }
    return due.length;
  });
}
