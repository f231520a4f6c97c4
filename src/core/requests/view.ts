import { NotFoundError } from '../errors.js';
import { type Reader, authorizeRequestRead } from '../authz.js';
import type { Decision } from '../model.js';
import type { Sql } from '../sql.js';
import { type PageInput, cutPage, decodeCursor, instantKey, pageLimit } from '../paging.js';

export interface RequestView {
  id: string;
  status: string;
  kind: string;
  entitlement: string;
  beneficiary: string;
  requester: string;
  justification: string;
  ticket: string | null;
  emergency: boolean;
  duration_seconds: number | null;
  created_at: string;
  lapses_at: string | null;
  decision: Decision;
  approval: {
    stages: {
      rule: string;
      approvers: string[];
      min_approvals: number;
      fallback: boolean;
      state: string;
      acted: { approver: string; verdict: string; comment: string; at: string }[];
    }[];
  };
  grant: { id: string; state: string; expires_at: string | null } | null;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

/** The shape of CLI.md's `request --json`, built for many requests with three queries. */
export async function requestViews(sql: Sql, ids: string[]): Promise<RequestView[]> {
  if (ids.length === 0) return [];
  // By primary key for each id (unnest, then a join): `id = ANY(…)` let the planner choose a
  // (parallel) scan of every request while it believed the table small (ADR 0035).
  const reqs = await sql.query<Record<string, unknown>>(
    'SELECT r.* FROM unnest($1::text[]) AS k(id) JOIN requests r ON r.id = k.id',
    [ids],
  );
  const stages = await sql.query<Record<string, unknown>>(
    'SELECT s.* FROM unnest($1::text[]) AS k(id) JOIN approval_stages s ON s.request_id = k.id ORDER BY s.idx',
    [ids],
  );
  const acts = await sql.query<Record<string, unknown>>(
    'SELECT a.* FROM unnest($1::text[]) AS k(id) JOIN approvals a ON a.request_id = k.id ORDER BY a.at',
    [ids],
  );
  const grants = await sql.query<Record<string, unknown>>(
    `SELECT g.id, g.state, g.expires_at, r.id AS request_id
       FROM unnest($1::text[]) AS k(id) JOIN requests r ON r.id = k.id
       JOIN grants g ON g.id = r.extends_grant OR g.request_id = r.id`,
    [ids],
  );
  const byId = new Map(reqs.map((r) => [r.id as string, r]));
  return ids.flatMap((id) => {
    const r = byId.get(id);
    if (!r) return [];
    const g = grants.find((x) => x.request_id === id);
    return [
      {
        id,
        status: r.status as string,
        kind: r.kind as string,
        entitlement: r.entitlement as string,
        beneficiary: r.beneficiary as string,
        requester: r.requester as string,
        justification: r.justification as string,
        ticket: (r.ticket as string | null) ?? null,
        emergency: r.emergency as boolean,
        duration_seconds: (r.duration as number | null) ?? null,
        created_at: iso(r.created_at as Date)!,
        lapses_at: iso(r.lapses_at as Date | null),
        decision: r.decision as Decision,
        approval: {
          stages: stages
            .filter((s) => s.request_id === id)
            .map((s) => ({
              rule: s.rule as string,
              approvers: s.approvers as string[],
              min_approvals: s.min_approvals as number,
              fallback: s.fallback as boolean,
              state: s.state as string,
              acted: acts
                .filter((a) => a.request_id === id && a.stage_idx === s.idx)
                .map((a) => ({
                  approver: a.approver as string,
                  verdict: a.verdict as string,
                  comment: a.comment as string,
                  at: iso(a.at as Date)!,
                })),
            })),
        },
        grant: g
          ? {
              id: g.id as string,
              state: g.state as string,
              expires_at: iso(g.expires_at as Date | null),
            }
          : null,
      },
    ];
  });
}

export async function requestView(sql: Sql, id: string): Promise<RequestView> {
  const [v] = await requestViews(sql, [id]);
  if (!v) throw new NotFoundError(`unknown request "${id}"`, { field: 'id' });
  return v;
}

/** One request, for a reader that core/authz.ts lets see it (everything without a reader). */
export async function requestViewFor(
  sql: Sql,
  id: string,
  reader: Reader | undefined,
): Promise<RequestView> {
  const v = await requestView(sql, id);
  if (reader)
    authorizeRequestRead(reader, {
      id,
      requester: v.requester,
      beneficiary: v.beneficiary,
      approvers: v.approval.stages.flatMap((s) => s.approvers),
    });
  return v;
}

export interface RequestPage {
  requests: RequestView[];
  /** Where the next page starts; null when this page is the last. */
  next_cursor: string | null;
}

/**
 * Requests in the order they were made, one keyset page at a time on (created_at, id), by
 * index: `requests_page`, or `requests_status_page` with a status (migration 006).
 */
export async function listRequests(
  sql: Sql,
  f: RequestFilter,
  page: PageInput = {},
): Promise<RequestPage> {
  const { ids, next_cursor } = await listRequestIds(sql, f, page);
  return { requests: await requestViews(sql, ids), next_cursor };
}

export interface RequestFilter {
  status?: string;
  approver?: string;
  beneficiary?: string;
  visibleTo?: string;
}

/**
 * The ids of a page of listRequests, without building their views: what `/api/v1/me` needs to
 * say what waits on someone (the inbox reads the views themselves with its own call).
 */
export async function listRequestIds(
  sql: Sql,
  f: RequestFilter,
  page: PageInput = {},
): Promise<{ ids: string[]; next_cursor: string | null }> {
  const limit = pageLimit(page.limit);
  const after = decodeCursor(page.cursor, 'requests', ['instant', 'text']);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (value: unknown) => `$${params.push(value)}`;
  if (f.status) where.push(`r.status = ${p(f.status)}`);
  if (f.beneficiary) where.push(`r.beneficiary = ${p(f.beneficiary)}`);
  if (f.visibleTo) {
    // core/authz.ts's authorizeRequestRead, as a filter: requester, beneficiary or an approver.
    const who = p(f.visibleTo);
    where.push(`(r.requester = ${who} OR r.beneficiary = ${who}
                 OR r.id IN (SELECT s.request_id FROM approval_stages s WHERE s.approvers @> ARRAY[${who}]::text[]))`);
  }
  if (f.approver) {
    const who = p(f.approver);
    // @> is what the GIN index on pending stages' approvers serves; = ANY() would scan them all.
    where.push(`r.id IN (SELECT s.request_id FROM approval_stages s WHERE s.state = 'pending' AND s.approvers @> ARRAY[${who}]::text[])
                AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.approver = ${who})`);
    where.push(`r.status = 'pending_approval'`);
  }
  if (after) where.push(`(r.created_at, r.id) > (${p(after[0])}::timestamptz, ${p(after[1])})`);
  const rows = await sql.query<{ id: string; page_at: string }>(
    `SELECT r.id, ${instantKey('r.created_at')} AS page_at FROM requests r
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY r.created_at, r.id LIMIT ${p(limit + 1)}`,
    params,
  );
  const cut = cutPage(rows, limit, 'requests', (r) => [r.page_at, r.id]);
  return { ids: cut.rows.map((r) => r.id), next_cursor: cut.next_cursor };
}
