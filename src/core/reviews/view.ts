import { NotFoundError, RefusedError } from '../errors.js';
import { type PageInput, cutPage, decodeCursor, instantKey, pageLimit } from '../paging.js';
import type { Sql } from '../sql.js';
import type { ItemRow } from './decide.js';

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

export interface ItemView {
  id: string;
  kind: string;
  campaign: string | null;
  grant: string | null;
  identity: string;
  entitlement: string | null;
  /** The item's reviewers, comma-separated (CLI.md); `reviewers` lists them. */
  reviewer: string | null;
  reviewers: string[];
  /** Why the item went elsewhere than the campaign's reviewer rule said; null when it did not. */
  routed: string | null;
  note: string;
  due: string | null;
  decision: 'certify' | 'revoke' | null;
  decided_by: string | null;
  decided_at: string | null;
  applied: 'default' | null;
  comment: string | null;
  expires_at: string | null;
}

export function itemView(i: ItemRow): ItemView {
  return {
    id: i.id,
    kind: i.kind,
    campaign: i.campaign_id,
    grant: i.grant_id,
    identity: i.identity,
    entitlement: i.entitlement,
    reviewer: i.reviewers.join(', ') || null,
    reviewers: i.reviewers,
    routed: i.routed,
    note: i.note,
    due: iso(i.due_at),
    decision: i.decision,
    decided_by: i.decided_by,
    decided_at: iso(i.decided_at),
    applied: i.applied,
    comment: i.comment,
    expires_at: iso(i.expires_at),
  };
}

interface CampaignRow {
  id: string;
  name: string;
  scope: string;
  reviewer: string;
  default_decision: string;
  status: string;
  due_at: Date;
  created_by: string;
  created_at: Date;
  closed_at: Date | null;
  closed_by: string | null;
  recurring: string | null;
  items: number | string;
  decided: number | string;
}

function campaignSummary(c: CampaignRow) {
  const items = Number(c.items);
  const decided = Number(c.decided);
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    scope: c.scope,
    reviewer: c.reviewer,
    default: c.default_decision,
    due: iso(c.due_at)!,
    created_by: c.created_by,
    created_at: iso(c.created_at)!,
    closed_at: iso(c.closed_at),
    closed_by: c.closed_by,
    recurring: c.recurring,
    counts: { items, decided, open: items - decided },
  };
}

export type CampaignSummary = ReturnType<typeof campaignSummary>;
export type CampaignView = CampaignSummary & { items: ItemView[]; next_cursor: string | null };

const COUNTS = `(SELECT count(*) FROM review_items i WHERE i.campaign_id = c.id) AS items,
  (SELECT count(*) FROM review_items i WHERE i.campaign_id = c.id AND i.decision IS NOT NULL) AS decided`;

/**
 * One campaign with one keyset page of its items in id order (`counts` say how many in all), so a
 * campaign of 10,000 items is never read whole. The cursor names the campaign: one campaign's
 * cursor is refused by another's. `reviewer`: a reader who does not read everything sees only the
 * items they review, and a campaign with none of theirs is refused.
 */
export async function campaignView(
  sql: Sql,
  id: string,
  reviewer?: string,
  page: PageInput = {},
): Promise<CampaignView> {
  const limit = pageLimit(page.limit);
  const tag = `review:${id}`;
  const after = decodeCursor(page.cursor, tag, ['text']);
  const [c] = await sql.query<CampaignRow>(
    `SELECT c.*, ${COUNTS} FROM review_campaigns c WHERE c.id = $1`,
    [id],
  );
  if (!c) throw new NotFoundError(`unknown review campaign "${id}"`, { field: 'id' });
  if (reviewer !== undefined) {
    const [mine] = await sql.query(
      'SELECT 1 FROM review_items WHERE campaign_id = $1 AND $2 = ANY(reviewers) LIMIT 1',
      [id, reviewer],
    );
    if (!mine)
      throw new RefusedError(
        `${reviewer} may not see review campaign ${id}: only its reviewers, an administrator or an auditor may`,
        { code: 'review_not_visible' },
      );
  }
  const params: unknown[] = [id];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = ['campaign_id = $1'];
  if (reviewer !== undefined) where.push(`${p(reviewer)} = ANY(reviewers)`);
  if (after) where.push(`id > ${p(after[0])}`);
  const rows = await sql.query<ItemRow>(
    `SELECT * FROM review_items WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${p(limit + 1)}`,
    params,
  );
  const cut = cutPage(rows, limit, tag, (r) => [r.id]);
  return { ...campaignSummary(c), items: cut.rows.map(itemView), next_cursor: cut.next_cursor };
}

/** Campaigns newest first, paged; a reviewer's list holds the campaigns with items of theirs. */
export async function listCampaigns(
  sql: Sql,
  page: PageInput = {},
  reviewer?: string,
): Promise<{ campaigns: CampaignSummary[]; next_cursor: string | null }> {
  const limit = pageLimit(page.limit);
  const tag = 'reviews';
  const after = decodeCursor(page.cursor, tag, ['instant', 'text']);
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where: string[] = [];
  if (reviewer !== undefined)
    where.push(
      `EXISTS (SELECT 1 FROM review_items i WHERE i.campaign_id = c.id AND ${p(reviewer)} = ANY(i.reviewers))`,
    );
  if (after) where.push(`(c.created_at, c.id) < (${p(after[0])}::timestamptz, ${p(after[1])})`);
  const rows = await sql.query<CampaignRow & { page_at: string }>(
    `SELECT c.*, ${COUNTS}, ${instantKey('c.created_at')} AS page_at FROM review_campaigns c
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY c.created_at DESC, c.id DESC LIMIT ${p(limit + 1)}`,
    params,
  );
  const cut = cutPage(rows, limit, tag, (r) => [r.page_at, r.id]);
  return { campaigns: cut.rows.map(campaignSummary), next_cursor: cut.next_cursor };
}

/** One item, by id. */
export async function reviewItem(sql: Sql, id: string): Promise<ItemView> {
  const [i] = await sql.query<ItemRow>('SELECT * FROM review_items WHERE id = $1', [id]);
  if (!i) throw new NotFoundError(`unknown review item "${id}"`, { field: 'item' });
  return itemView(i);
}

/**
 * Undecided items, campaign and standalone alike, oldest first, one keyset page at a time;
 * `reviewer`: only those waiting on that person.
 */
export async function listOpenItems(
  sql: Sql,
  page: PageInput = {},
  reviewer?: string,
): Promise<{ items: ItemView[]; next_cursor: string | null }> {
  const limit = pageLimit(page.limit);
  const tag = 'review-items';
  const after = decodeCursor(page.cursor, tag, ['instant', 'text']);
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = ['decision IS NULL'];
  if (reviewer !== undefined) where.push(`reviewers @> ARRAY[${p(reviewer)}]::text[]`);
  const select = `SELECT *, ${instantKey('created_at')} AS page_at FROM review_items`;
  const from = after ? `(created_at, id) > (${p(after[0])}::timestamptz, ${p(after[1])})` : 'true';
  // One reviewer's items are found by the GIN index first, then sorted: left to itself the planner
  // walks the open queue in creation order from the cursor and filters everyone else's items out,
  // which on statistics taken while the store was small it thinks cheap (items-plan.test.ts). The
  // fence (a materialized CTE, the cursor applied outside it) costs a sort of that reviewer's open
  // items, not a walk of everyone's.
  const rows = await sql.query<ItemRow & { page_at: string }>(
    reviewer !== undefined
      ? `WITH mine AS MATERIALIZED (${select} WHERE ${where.join(' AND ')})
         SELECT * FROM mine WHERE ${from} ORDER BY created_at, id LIMIT ${p(limit + 1)}`
      : `${select} WHERE ${[...where, from].join(' AND ')} ORDER BY created_at, id LIMIT ${p(limit + 1)}`,
    params,
  );
  const cut = cutPage(rows, limit, tag, (r) => [r.page_at, r.id]);
  return { items: cut.rows.map(itemView), next_cursor: cut.next_cursor };
}
