import { appendAudit } from '../audit/chain.js';
import { authorizeReviewDecision } from '../authz.js';
import type { Catalog } from '../catalog/catalog.js';
import { addSeconds } from '../duration.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { type GrantRow, requireGrant, startRevocation } from '../grants/grants.js';
import type { Via } from '../model.js';
import type { Sql } from '../sql.js';
import type { ReviewDecision } from './campaigns.js';

export interface ItemRow {
  id: string;
  campaign_id: string | null;
  kind: string;
  grant_id: string | null;
  identity: string;
  entitlement: string | null;
  reviewers: string[];
  note: string;
  routed: string | null;
  due_at: Date | null;
  decision: ReviewDecision | null;
  decided_by: string | null;
  decided_at: Date | null;
  applied: 'default' | null;
  comment: string | null;
  expires_at: Date | null;
  created_at: Date;
}

export interface DecideInput {
  itemId: string;
  actor: string;
  decision: ReviewDecision;
  /** A certification's new expiry, within the entitlement's maximum from now. */
  expires?: Date | undefined;
  comment: string;
  via: Via;
}

const LIVE_REVOCABLE = ['active', 'provisioning', 'failed', 'revoke_failed'];

/**
 * Carries out one item's decision in the caller's transaction, the item and its grant locked:
 * `revoke` starts a revocation (trigger `review`) through the revoke path every other trigger
 * uses, so it is verified in the target like any other; `certify` keeps the access, with a new
 * expiry where one was given. Access already gone needs nothing more, and the event says so.
 */
export async function applyDecision(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  item: ItemRow,
  g: GrantRow | undefined,
  d: {
    decision: ReviewDecision;
    actor: string;
    comment: string | null;
    expires?: Date | undefined;
    via: Via;
    applied: 'default' | null;
  },
): Promise<void> {
  let outcome = 'kept';
  let expires: Date | null | undefined;
  if (d.decision === 'revoke') {
    if (!g) outcome = 'no_grant';
    else if (LIVE_REVOCABLE.includes(g.state)) {
      const why = item.campaign_id
        ? `access review ${item.campaign_id}: ${d.applied ? "the campaign's default" : `revoked by ${d.actor}`}`
        : `${item.kind} review ${item.id}: ${d.applied ? 'undecided at its due date' : `revoked by ${d.actor}`}`;
      await startRevocation(
        tx,
        now,
        d.actor,
        g.id,
        'review',
        d.comment ? `${why}: ${d.comment}` : why,
        d.via,
      );
      outcome = 'revocation_started';
    } else outcome = g.state === 'revoking' ? 'already_revoking' : 'already_revoked';
  } else if (d.expires) {
    if (!g || g.state !== 'active')
      throw new ConflictError(
        `grant ${g?.id ?? '(none)'} is ${g?.state ?? 'absent'}; only an active grant's expiry can be set`,
        { code: 'grant_not_active', field: 'expires' },
      );
    const ent = catalog.entitlements.get(g.entitlement);
    if (d.expires.getTime() <= now.getTime())
      throw new InputError(`expires: ${d.expires.toISOString()} is not in the future`, {
        code: 'invalid_expiry',
        field: 'expires',
      });
    const max = ent?.maxDuration ? addSeconds(now, ent.maxDuration) : null;
    if (max && d.expires.getTime() > max.getTime())
      throw new InputError(
        `expires: ${d.expires.toISOString()} is beyond ${g.entitlement}'s maximum (${max.toISOString()} from now)`,
        { code: 'expiry_beyond_max', field: 'expires' },
      );
    expires = d.expires;
    // Reminders and "let it expire" answered the old expiry; the new one starts afresh.
    await tx.query(
      `UPDATE grants SET expires_at = $2, let_expire = false, let_expire_by = NULL, last_reminder_at = NULL WHERE id = $1`,
      [g.id, expires],
    );
    outcome = 'expiry_set';
  }
  await tx.query(
    `UPDATE review_items SET decision = $2, decided_by = $3, decided_at = $4, comment = $5,
            expires_at = $6, applied = $7 WHERE id = $1`,
    [item.id, d.decision, d.actor, now, d.comment, expires ?? null, d.applied],
  );
  await appendAudit(tx, now, {
    actor: d.actor,
    action: 'review.item_decided',
    subject: item.id,
    refs: [
      ...(item.campaign_id ? [item.campaign_id] : []),
      ...(g ? [g.id, ...(g.request_id ? [g.request_id] : [])] : []),
    ],
    details: {
      kind: item.kind,
      campaign: item.campaign_id,
      grant: g?.id ?? null,
      identity: item.identity,
      entitlement: item.entitlement,
      decision: d.decision,
      applied: d.applied,
      comment: d.comment,
      outcome,
      // What the reviewer saw: the grant as it stood when they decided.
      grant_state: g?.state ?? null,
      expires_at_before: g?.expires_at?.toISOString() ?? null,
      expires_at: expires ? expires.toISOString() : (g?.expires_at?.toISOString() ?? null),
      via: d.via,
    },
  });
}

/**
 * A reviewer decides one item, campaign or standalone (post-event, mover, …) alike. The item is
 * locked first, then its grant (the order close takes too), so of two deciders one wins and the
 * other is told it was decided; the rule is core/authz.ts's.
 */
export async function decideItem(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  d: DecideInput,
): Promise<void> {
  if (d.decision !== 'certify' && d.decision !== 'revoke')
    throw new InputError(`the decision is certify or revoke, not "${String(d.decision)}"`, {
      code: 'invalid_decision',
      field: 'decision',
    });
  if (d.expires && d.decision !== 'certify')
    throw new InputError('expires: only a certification sets a new expiry', {
      code: 'expires_with_revoke',
      field: 'expires',
    });
  await sql.transaction(async (tx) => {
    const [item] = await tx.query<ItemRow>('SELECT * FROM review_items WHERE id = $1 FOR UPDATE', [
      d.itemId,
    ]);
    if (!item) throw new NotFoundError(`unknown review item "${d.itemId}"`, { field: 'item' });
    if (item.decision)
      throw new ConflictError(
        `review item ${item.id} was already decided: ${item.decision} by ${item.decided_by} at ${item.decided_at?.toISOString()}`,
        { code: 'already_decided' },
      );
    const g = item.grant_id ? await requireGrant(tx, item.grant_id, true) : undefined;
    const [actor] = await tx.query<{ status: string }>(
      'SELECT status FROM identities WHERE id = $1',
      [d.actor],
    );
    authorizeReviewDecision(d.actor, {
      itemId: item.id,
      reviewers: item.reviewers,
      holder: item.identity,
      actorStatus: actor?.status,
    });
    await applyDecision(tx, catalog, now, item, g, {
      decision: d.decision,
      actor: d.actor,
      comment: d.comment.trim() || null,
      expires: d.expires,
      via: d.via,
      applied: null,
    });
  });
}
