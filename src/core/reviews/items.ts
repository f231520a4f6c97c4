import { appendAudit } from '../audit/chain.js';
import { newId } from '../ids.js';
import type { Sql } from '../sql.js';

export interface ReviewItemInput {
  kind: 'post_event' | 'mover' | 'nhi_reassigned' | 'adopted';
  grantId: string | null;
  identity: string;
  entitlement: string | null;
  reviewers: string[];
  note: string;
  due: Date;
  /** Request and grant ids the opening event concerns. */
  refs: string[];
  /** What the `review.item_opened` event records. */
  details: Record<string, unknown>;
}

/** Opens an item someone must look at, with its audit event, in the caller's transaction. */
export async function openReviewItem(tx: Sql, now: Date, i: ReviewItemInput): Promise<string> {
  const id = newId('itm');
  await tx.query(
    `INSERT INTO review_items (id, kind, grant_id, identity, entitlement, reviewers, note, due_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [id, i.kind, i.grantId, i.identity, i.entitlement, i.reviewers, i.note, i.due, now],
  );
  await appendAudit(tx, now, {
    actor: 'gatehouse',
    action: 'review.item_opened',
    subject: id,
    refs: i.refs,
    details: i.details,
  });
  return id;
}
