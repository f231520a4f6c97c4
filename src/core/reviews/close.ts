import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { findGrant } from '../grants/grants.js';
import type { Via } from '../model.js';
import type { Sql } from '../sql.js';
import type { ReviewDecision } from './campaigns.js';
import { type ItemRow, applyDecision } from './decide.js';

interface CampaignRow {
  id: string;
  status: string;
  default_decision: ReviewDecision;
  due_at: Date;
}

/**
 * Closes one campaign in the caller's transaction: every undecided item takes the default
 * (`applied: default`, decided by `gatehouse`), revocations included, then `review.closed`. The
 * campaign is locked first, then its items, then each item's grant: the order decide takes.
 */
async function closeLocked(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  c: CampaignRow,
  actor: string,
  via: Via,
  why: 'closed' | 'due',
): Promise<void> {
  const open = await tx.query<ItemRow>(
    `SELECT * FROM review_items WHERE campaign_id = $1 AND decision IS NULL ORDER BY id FOR UPDATE`,
    [c.id],
  );
  for (const item of open) {
    const g = item.grant_id ? await findGrant(tx, item.grant_id, true) : undefined;
    await applyDecision(tx, catalog, now, item, g, {
      decision: c.default_decision,
      actor: 'gatehouse',
      comment: null,
      via,
      applied: 'default',
    });
  }
  await tx.query(
    `UPDATE review_campaigns SET status = 'closed', closed_at = $2, closed_by = $3 WHERE id = $1`,
    [c.id, now, actor],
  );
  const [counts] = await tx.query<{ items: number | string; revoked: number | string }>(
    `SELECT count(*) AS items, count(*) FILTER (WHERE decision = 'revoke') AS revoked
       FROM review_items WHERE campaign_id = $1`,
    [c.id],
  );
  await appendAudit(tx, now, {
    actor,
    action: 'review.closed',
    subject: c.id,
    details: {
      reason: why === 'due' ? 'due date passed' : 'closed',
      due: c.due_at.toISOString(),
      default: c.default_decision,
      items: Number(counts?.items ?? 0),
      defaulted: open.length,
      revoked: Number(counts?.revoked ?? 0),
      via,
    },
  });
}

/** `review close C`: the default for undecided items, then closed. Closing twice is a conflict. */
export async function closeCampaign(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  r: { campaignId: string; actor: string; via: Via },
): Promise<void> {
  await sql.transaction(async (tx) => {
    const [c] = await tx.query<CampaignRow>(
      'SELECT id, status, default_decision, due_at FROM review_campaigns WHERE id = $1 FOR UPDATE',
      [r.campaignId],
    );
    if (!c)
      throw new NotFoundError(`unknown review campaign "${r.campaignId}"`, { field: 'campaign' });
    if (c.status !== 'open')
      throw new ConflictError(`review campaign ${c.id} is already closed`, {
        code: 'campaign_closed',
      });
    await closeLocked(tx, catalog, now, c, r.actor, r.via, 'closed');
  });
}

/** Campaigns closed per run of the periodic task. */
export const CLOSE_BATCH = 20;

/**
 * The runtime's due-date task: open campaigns past their due date close as `review close` would,
 * each in its own transaction; one a decider holds is skipped and taken on the next run.
 */
export async function closeDueCampaigns(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
): Promise<number> {
  const due = await sql.query<{ id: string }>(
    `SELECT id FROM review_campaigns WHERE status = 'open' AND due_at <= $1 ORDER BY due_at, id LIMIT $2`,
    [now, CLOSE_BATCH],
  );
  let closed = 0;
  for (const { id } of due) {
    closed += await sql.transaction(async (tx) => {
      const [c] = await tx.query<CampaignRow>(
        `SELECT id, status, default_decision, due_at FROM review_campaigns
          WHERE id = $1 AND status = 'open' FOR UPDATE SKIP LOCKED`,
        [id],
      );
      if (!c) return 0;
      await closeLocked(tx, catalog, now, c, actor, 'job', 'due');
      return 1;
    });
  }
  return closed;
}

/** Standalone items defaulted per run of the periodic task. */
export const ITEM_DEFAULT_BATCH = 50;

/**
 * What an undecided standalone item (post-event, mover, reassigned non-human identity, adopted
 * access) takes at its due date: it has no campaign to give it a default, and access nobody
 * vouched for in time is the access the product exists to remove (ADR 0038).
 */
export const STANDALONE_DEFAULT: ReviewDecision = 'revoke';

/**
 * The runtime's due-date task for standalone items: each undecided one past its due date takes
 * `revoke` as a campaign's default would (`applied: default`, decided by `gatehouse`), the
 * revocation started through the verified revoke path, each in its own transaction; an item a
 * reviewer holds is skipped and taken on the next run.
 */
export async function defaultDueItems(sql: Sql, catalog: Catalog, now: Date): Promise<number> {
  const due = await sql.query<{ id: string }>(
    `SELECT id FROM review_items
      WHERE campaign_id IS NULL AND decision IS NULL AND due_at <= $1
      ORDER BY due_at, id LIMIT $2`,
    [now, ITEM_DEFAULT_BATCH],
  );
  let defaulted = 0;
  for (const { id } of due) {
    defaulted += await sql.transaction(async (tx) => {
      const [item] = await tx.query<ItemRow>(
        `SELECT * FROM review_items WHERE id = $1 AND decision IS NULL FOR UPDATE SKIP LOCKED`,
        [id],
      );
      if (!item) return 0;
      const g = item.grant_id ? await findGrant(tx, item.grant_id, true) : undefined;
      await applyDecision(tx, catalog, now, item, g, {
        decision: STANDALONE_DEFAULT,
        actor: 'gatehouse',
        comment: null,
        via: 'job',
        applied: 'default',
      });
      return 1;
    });
  }
  return defaulted;
}
