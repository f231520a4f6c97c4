import { appendAudit } from '../audit/chain.js';
import type { Via } from '../model.js';
import { LIVE_STATES } from '../decision/inputs.js';
import { ConflictError, RefusedError } from '../errors.js';
import type { Sql } from '../sql.js';
import { APPLY, enqueueGrantJob, requireGrant } from './grants.js';

/**
 * Who may ask for a failed apply again: whoever could have requested the access in the first
 * place — the beneficiary, its owner or manager — and the original requester.
 */
async function mayRetry(
  tx: Sql,
  g: { identity: string; owner: string; request_id: string | null },
) {
  const [row] = await tx.query<{
    owner: string | null;
    manager: string | null;
    requester: string | null;
  }>(
    `SELECT i.owner, i.manager, (SELECT requester FROM requests WHERE id = $2) AS requester
       FROM identities i WHERE i.id = $1`,
    [g.identity, g.request_id],
  );
  return new Set(
    [g.identity, g.owner, row?.owner, row?.manager, row?.requester].filter(
      (x): x is string => typeof x === 'string' && x !== '',
    ),
  );
}

/**
 * Re-queues the apply of a grant whose provisioning failed: the grant is `provisioning` again with
 * a fresh job, in one transaction with its audit event.
 */
export async function retryGrant(
  sql: Sql,
  now: Date,
  grantId: string,
  actor: string,
  via: Via,
): Promise<void> {
  await sql.transaction(async (tx) => {
    const g = await requireGrant(tx, grantId, true);
    const allowed = await mayRetry(tx, g);
    if (!allowed.has(actor)) {
      throw new RefusedError(
        `${actor} may not retry ${grantId}: only its holder, the holder's owner or manager, or whoever requested it may`,
        { code: 'retry_not_allowed' },
      );
    }
    if (g.state !== 'failed') {
      throw new ConflictError(
        `grant ${grantId} is ${g.state}; only a grant whose provisioning failed can be retried`,
        { code: 'grant_not_failed' },
      );
    }
    const [live] = await tx.query<{ id: string }>(
      `SELECT id FROM grants WHERE identity = $1 AND entitlement = $2 AND state IN ${LIVE_STATES}`,
      [g.identity, g.entitlement],
    );
    if (live) {
      throw new ConflictError(
        `${g.identity} already holds ${g.entitlement} through grant ${live.id}; ${grantId} is not retried`,
        { code: 'grant_superseded' },
      );
    }
    await tx.query(`UPDATE grants SET state = 'provisioning', failure = NULL WHERE id = $1`, [
      grantId,
    ]);
    await enqueueGrantJob(tx, now, g, APPLY);
    await appendAudit(tx, now, {
      actor,
      action: 'grant.retry_requested',
      subject: grantId,
      refs: g.request_id ? [g.request_id] : [],
      details: { previous_failure: g.failure, state: 'provisioning', via },
    });
  });
}
