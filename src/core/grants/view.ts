import { type Reader, authorizeGrantRead, listReader } from '../authz.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Sql } from '../sql.js';
import { requireGrant } from './grants.js';
import type { GrantRow } from './grants.js';
import { type PageInput, cutPage, decodeCursor, instantKey, pageLimit } from '../paging.js';

export interface GrantView {
  id: string;
  identity: string;
  entitlement: string;
  app: string;
  owner: string;
  state: string;
  granted_at: string | null;
  expires_at: string | null;
  trigger: string;
  emergency: boolean;
  request: string | null;
  verified_at: string | null;
  revoked_at: string | null;
  revoke_trigger: string | null;
  revocation_latency_seconds: number | null;
  failure: string | null;
  let_expire: boolean;
  last_reminder_at: string | null;
  /**
   * How the grant's activation was established: `read_back` (the target was read), `attested`
   * (a fulfiller said so: attested_by), or null while it is not active yet.
   */
  verification: 'read_back' | 'attested' | null;
  attested_by: string | null;
  /** Who attested the removal, for a grant revoked through a fulfilment task. */
  removal_attested_by: string | null;
  /** The open fulfilment task the grant waits on (manual connectors), if any. */
  task: { id: string; op: string; due_at: string; overdue: boolean } | null;
}

/** A grant row with its open fulfilment task, as listGrants reads it. */
type WithTask = GrantRow & { task?: { id: string; op: string; due_at: string | Date } | null };

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function grantView(g: WithTask, now?: Date): GrantView {
  return {
    id: g.id,
    identity: g.identity,
    entitlement: g.entitlement,
    app: g.app,
    owner: g.owner,
    state: g.state,
    granted_at: iso(g.granted_at),
    expires_at: iso(g.expires_at),
    trigger: g.trigger,
    emergency: g.emergency,
    request: g.request_id,
    verified_at: iso(g.verified_at),
    revoked_at: iso(g.revoked_at),
    revoke_trigger: g.revoke_trigger,
    revocation_latency_seconds: g.revocation_latency_seconds,
    failure: g.failure,
    let_expire: g.let_expire,
    last_reminder_at: iso(g.last_reminder_at),
    verification: g.attested_by ? 'attested' : g.granted_at ? 'read_back' : null,
    attested_by: g.attested_by ?? null,
    removal_attested_by: g.removal_attested_by ?? null,
    task: g.task
      ? {
          id: g.task.id,
          op: g.task.op,
          due_at: iso(new Date(g.task.due_at))!,
          overdue: now !== undefined && new Date(g.task.due_at).getTime() < now.getTime(),
        }
      : null,
  };
}

export interface GrantFilter {
  identity?: string;
  app?: string;
  entitlement?: string;
  state?: string;
  /** Seconds: active grants expiring within this window from `now`, soonest first. */
  expiringWithin?: number;
  now?: Date;
  /** core/authz.ts's authorizeGrantRead as a filter: holder, owner, or owner of the app. */
  visibleTo?: { id: string; apps: readonly string[]; governance: boolean };
}

export interface GrantPage {
  grants: GrantView[];
  /** Where the next page starts; null when this page is the last. */
  next_cursor: string | null;
}

/**
 * Grants in the order they were created, or soonest expiry first for an expiry window, one keyset
 * page at a time. Each filter and ordering has an index whose columns are the filter then the
 * key (migration 006), so a page is an index range read however many grants the store holds.
 */
export async function listGrants(
  sql: Sql,
  f: GrantFilter,
  page: PageInput = {},
): Promise<GrantPage> {
  const limit = pageLimit(page.limit);
  const byExpiry = f.expiringWithin !== undefined && f.now !== undefined;
  const tag = byExpiry ? 'grants:expiry' : 'grants';
  const order = byExpiry ? ['expires_at', 'id'] : ['created_at', 'id'];
  const after = decodeCursor(page.cursor, tag, ['instant', 'text']);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (value: unknown) => `$${params.push(value)}`;
  if (f.identity) where.push(`identity = ${p(f.identity)}`);
  if (f.app) where.push(`app = ${p(f.app)}`);
  if (f.entitlement) where.push(`entitlement = ${p(f.entitlement)}`);
  if (f.state) where.push(`state = ${p(f.state)}`);
  if (byExpiry) {
    const until = new Date(f.now!.getTime() + f.expiringWithin! * 1000);
    where.push(`state = 'active' AND expires_at <= ${p(until)}`);
  }
  if (after) where.push(`(${order.join(', ')}) > (${p(after[0])}::timestamptz, ${p(after[1])})`);
  const key = order.join(', ');
  const lim = p(limit + 1);
  // A reader who does not read everything sees what core/authz.ts's authorizeGrantRead allows:
  // what they hold, what they own, their apps' grants. Each is read as a page of its own on its
  // index (identity, owner, app, then the key: migrations 006, 024) and the page is the first of
  // their union: an OR of the three would walk the whole creation order past everyone else's
  // grants to fill the page of someone who sees few (ADR 0035).
  const visible = f.visibleTo && !f.visibleTo.governance ? f.visibleTo : undefined;
  let from = 'grants';
  if (visible) {
    const who = p(visible.id);
    const sides = [`identity = ${who}`, `owner = ${who}`];
    // One range read per app they own: `app = ANY(…)` would sort all their apps' grants.
    for (const app of visible.apps) sides.push(`app = ${p(app)}`);
    const branches = sides.map(
      (side) =>
        `(SELECT * FROM grants WHERE ${[...where, side].join(' AND ')} ORDER BY ${key} LIMIT ${lim})`,
    );
    from = `(SELECT DISTINCT ON (${key}) * FROM (${branches.join(' UNION ALL ')}) u ORDER BY ${key}) grants`;
    where.length = 0;
  }
  const rows = await sql.query<GrantRow & { page_at: string }>(
    `SELECT *, ${instantKey(order[0]!)} AS page_at,
            (SELECT jsonb_build_object('id', t.id, 'op', t.op, 'due_at', t.due_at)
               FROM fulfilment_tasks t WHERE t.grant_id = grants.id AND t.state = 'open'
              LIMIT 1) AS task
       FROM ${from}
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${key} LIMIT ${lim}`,
    params,
  );
  const cut = cutPage(rows, limit, tag, (r) => [r.page_at, r.id]);
  return { grants: cut.rows.map((g) => grantView(g, f.now)), next_cursor: cut.next_cursor };
}

export const governanceOf = (catalog: Catalog) => ({
  group: catalog.settings.fallbackGroup,
  members: catalog.groups.get(catalog.settings.fallbackGroup) ?? [],
});

/** One grant, for a reader that core/authz.ts lets see it (everything without a reader). */
export async function grantViewFor(
  sql: Sql,
  catalog: Catalog,
  id: string,
  reader: Reader | undefined,
  /** For the open task's `overdue`. */
  now?: Date,
): Promise<GrantView> {
  const g = await requireGrant(sql, id);
  if (reader)
    authorizeGrantRead(reader, id, {
      holder: g.identity,
      grantOwner: g.owner,
      appOwner: catalog.apps.get(g.app)?.owner ?? null,
      governance: governanceOf(catalog),
    });
  const [task] = await sql.query<{ id: string; op: string; due_at: Date }>(
    `SELECT id, op, due_at FROM fulfilment_tasks WHERE grant_id = $1 AND state = 'open' LIMIT 1`,
    [id],
  );
  return grantView({ ...g, task: task ?? null }, now);
}

/** The grants a reader may see: all of them, or those authorizeGrantRead would allow. */
export function grantReaderFilter(
  catalog: Catalog,
  reader: Reader | undefined,
): GrantFilter['visibleTo'] {
  const id = listReader(reader);
  if (id === undefined) return undefined;
  return {
    id,
    apps: [...catalog.apps.values()].filter((a) => a.owner === id).map((a) => a.id),
    governance: governanceOf(catalog).members.includes(id),
  };
}
