import { appendAudit } from '../audit/chain.js';
import type { Via } from '../model.js';
import { LIVE_STATES } from '../decision/inputs.js';
import { type GrantParties, authorizeRetry } from '../authz.js';
import { ConflictError } from '../errors.js';
import type { Sql } from '../sql.js';
import { APPLY, enqueueGrantJob, requireGrant } from './grants.js';

/** The people around a grant that the retry rule names (core/authz.ts). */
async function partiesOf(
  tx: Sql,
  g: { identity: string; owner: string; request_id: string | null },
): Promise<GrantParties> {
  const [row] = await tx.query<{
    owner: string | null;
    manager: string | null;
    requester: string | null;
  }>(
    `SELECT i.owner, i.manager, (SELECT requester FROM requests WHERE id = $2) AS requester
       FROM identities i WHERE i.id = $1`,
    [g.identity, g.request_id],
  );
  return {
    holder: g.identity,
    grantOwner: g.owner,
    holderOwner: row?.owner ?? null,
    holderManager: row?.manager ?? null,
    requester: row?.requester ?? null,
    governance: { group: '', members: [] },
  };
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
    authorizeRetry(actor, grantId, await partiesOf(tx, g));
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
