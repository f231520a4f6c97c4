import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { appOf } from '../catalog/catalog.js';
import { resolveChain } from '../approvals/resolve.js';
import { addSeconds } from '../duration.js';
import { newId } from '../ids.js';
import type { Entitlement, Identity } from '../model.js';
import type { Sql } from '../sql.js';

/**
 * Break-glass skips approval, so the approvers who would have decided review it afterwards: one
 * item for the whole chain, due within `emergency.review_within`.
 */
export async function openPostEventReview(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  e: {
    grantId: string;
    requestId: string;
    requester: string;
    identity: Identity;
    entitlement: Entitlement;
  },
): Promise<string> {
  const app = appOf(catalog, e.entitlement.app);
  const chain = e.entitlement.approval ?? catalog.settings.chains[e.entitlement.risk];
  const stages = await resolveChain(tx, catalog, chain, {
    requester: e.requester,
    beneficiary: e.identity,
    app,
  });
  const reviewers = [...new Set(stages.flatMap((s) => s.approvers))].sort();
  const id = newId('itm');
  const due = addSeconds(now, catalog.settings.emergencyReviewWithin);
  await tx.query(
    `INSERT INTO review_items (id, kind, grant_id, identity, entitlement, reviewers, note, due_at, created_at)
     VALUES ($1, 'post_event', $2, $3, $4, $5, $6, $7, $8)`,
    [
      id,
      e.grantId,
      e.identity.id,
      e.entitlement.id,
      reviewers,
      'break-glass access: post-event review',
      due,
      now,
    ],
  );
  await appendAudit(tx, now, {
    actor: 'gatehouse',
    action: 'review.item_opened',
    subject: id,
    refs: [e.grantId, e.requestId],
    details: { kind: 'post_event', reviewers, due: due.toISOString(), emergency: true },
  });
  return id;
}
