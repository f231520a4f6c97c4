import { openReviewItem } from '../reviews/items.js';
import type { Catalog } from '../catalog/catalog.js';
import { appOf } from '../catalog/catalog.js';
import { resolveChain } from '../approvals/resolve.js';
import { addSeconds } from '../duration.js';
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
  const due = addSeconds(now, catalog.settings.emergencyReviewWithin);
  return openReviewItem(tx, now, {
    kind: 'post_event',
    grantId: e.grantId,
    identity: e.identity.id,
    entitlement: e.entitlement.id,
    reviewers,
    note: 'break-glass access: post-event review',
    due,
    refs: [e.grantId, e.requestId],
    details: { kind: 'post_event', reviewers, due: due.toISOString(), emergency: true },
  });
}
