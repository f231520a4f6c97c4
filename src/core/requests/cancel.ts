import { appendAudit } from '../audit/chain.js';
import { authorizeCancel } from '../authz.js';
import { lockIdentity } from '../decision/inputs.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { Via } from '../model.js';
import type { Sql } from '../sql.js';

export interface CancelInput {
  requestId: string;
  actor: string;
  comment: string;
  via: Via;
}

/**
 * Withdraws a pending request, as its requester or its beneficiary: it and its open stages are
 * closed as `cancelled` (migration 011), so it drops out of every approver's queue; nothing was granted, so nothing is undone. One
 * transaction: the beneficiary locked first (the order every decision about them locks in),
 * the request row, who may, then the state, then the change with its audit event. Who may is
 * checked before the state, so a stranger learns nothing of a request they may not see.
 */
export async function cancelRequest(sql: Sql, now: Date, c: CancelInput): Promise<void> {
  await sql.transaction(async (tx) => {
    const [head] = await tx.query<{ beneficiary: string }>(
      'SELECT beneficiary FROM requests WHERE id = $1',
      [c.requestId],
    );
    if (!head) throw new NotFoundError(`unknown request "${c.requestId}"`, { field: 'request' });
    await lockIdentity(tx, head.beneficiary);
    const [r] = await tx.query<{
      id: string;
      requester: string;
      beneficiary: string;
      status: string;
      lapses_at: Date | null;
    }>(
      'SELECT id, requester, beneficiary, status, lapses_at FROM requests WHERE id = $1 FOR UPDATE',
      [c.requestId],
    );
    if (!r) throw new NotFoundError(`unknown request "${c.requestId}"`, { field: 'request' });
    authorizeCancel(c.actor, r);
    if (r.status !== 'pending_approval')
      throw new ConflictError(`request ${r.id} is ${r.status}, not pending approval`, {
        code: 'not_pending',
      });
    if (r.lapses_at && new Date(r.lapses_at) <= now)
      throw new ConflictError(
        `request ${r.id} lapsed at ${new Date(r.lapses_at).toISOString()} (approval timeout)`,
        { code: 'lapsed' },
      );
    await tx.query(`UPDATE requests SET status = 'cancelled', closed_at = $2 WHERE id = $1`, [
      r.id,
      now,
    ]);
    await tx.query(
      `UPDATE approval_stages SET state = 'cancelled' WHERE request_id = $1 AND state IN ('pending', 'waiting')`,
      [r.id],
    );
    await appendAudit(tx, now, {
      actor: c.actor,
      action: 'request.cancelled',
      subject: r.id,
      details: { via: c.via, comment: c.comment },
    });
  });
}
