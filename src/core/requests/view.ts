import { NotFoundError } from '../errors.js';
import { type Reader, authorizeRequestRead } from '../authz.js';
import type { Decision } from '../model.js';
import { type Sql, prepared } from '../sql.js';
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

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

/**
 * Requests with their stages, the approvals of each stage and the grant, as JSON built in one
 * statement: one round trip per view or page, which a submission pays on every call. Every part is
 * read by primary key or by an index on the request's id, so no statistics can make it a scan: by
 * `unnest … JOIN` for the requests (`id = ANY(…)` let the planner choose a parallel scan of every
 * request while it believed the table small, ADR 0035), and the grant by each of its two links
 * apart rather than through an OR. No LIMIT or ORDER BY near the grants: on a store's statistics
 * after a bulk load, `… ORDER BY created_at LIMIT 1` became a walk of every grant in creation
 * order (2.4 s a view at a million grants), where all of a request's grants (one) are one probe.
 */
export const VIEWS_SQL = prepared(`SELECT r.*,
       (SELECT coalesce(json_agg(json_build_object(
                 'rule', s.rule, 'approvers', s.approvers, 'min_approvals', s.min_approvals,
                 'fallback', s.fallback, 'state', s.state,
                 'acted', (SELECT coalesce(json_agg(json_build_object(
                                    'approver', a.approver, 'verdict', a.verdict,
                                    'comment', a.comment, 'at', a.at) ORDER BY a.at), '[]'::json)
                             FROM approvals a WHERE a.request_id = r.id AND a.stage_idx = s.idx))
                 ORDER BY s.idx), '[]'::json)
          FROM approval_stages s WHERE s.request_id = r.id) AS stages,
       (SELECT json_build_object('id', g.id, 'state', g.state, 'expires_at', g.expires_at)
          FROM grants g WHERE g.id = r.extends_grant) AS extended,
       (SELECT json_agg(json_build_object('id', g.id, 'state', g.state, 'expires_at', g.expires_at))
          FROM grants g WHERE g.request_id = r.id) AS granted
  FROM unnest($1::text[]) WITH ORDINALITY AS k(id, n) JOIN requests r ON r.id = k.id
 ORDER BY k.n`);

type ViewStage = RequestView['approval']['stages'][number];
type ViewGrant = NonNullable<RequestView['grant']>;

/** VIEWS_SQL's row: the request's own columns, and the parts built as JSON (text on some drivers). */
interface ViewRow extends Pick<
  RequestView,
  | 'id'
  | 'status'
  | 'kind'
  | 'entitlement'
  | 'beneficiary'
  | 'requester'
  | 'justification'
  | 'ticket'
  | 'emergency'
> {
  duration: number | null;
  created_at: Date | string;
  lapses_at: Date | string | null;
  decision: Decision | string;
  stages: ViewStage[] | string;
  extended: ViewGrant | string | null;
  granted: ViewGrant[] | string | null;
}

/** json columns as the driver hands them over: parsed by node-postgres and PGlite alike. */
const parsed = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/** The shape of CLI.md's `request --json`, for many requests in one statement (VIEWS_SQL). */
export async function requestViews(sql: Sql, ids: string[]): Promise<RequestView[]> {
  if (ids.length === 0) return [];
  const rows = await sql.query<ViewRow>(VIEWS_SQL, [ids]);
  return rows.map((r) => {
    const g =
      (r.extended === null ? null : parsed(r.extended)) ??
      (r.granted === null ? null : (parsed(r.granted)[0] ?? null));
    return {
      id: r.id,
      status: r.status,
      kind: r.kind,
      entitlement: r.entitlement,
      beneficiary: r.beneficiary,
      requester: r.requester,
      justification: r.justification,
      ticket: r.ticket ?? null,
      emergency: r.emergency,
      duration_seconds: r.duration ?? null,
      created_at: iso(r.created_at)!,
      lapses_at: iso(r.lapses_at),
      decision: parsed(r.decision),
      approval: {
        stages: parsed(r.stages).map((s) => ({
          rule: s.rule,
          approvers: s.approvers,
          min_approvals: s.min_approvals,
          fallback: s.fallback,
          state: s.state,
          acted: s.acted.map((a) => ({
            approver: a.approver,
            verdict: a.verdict,
            comment: a.comment,
            at: iso(a.at)!,
          })),
        })),
      },
      grant: g ? { id: g.id, state: g.state, expires_at: iso(g.expires_at) } : null,
    };
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
 * index: `requests_page`, or `requests_status_page` with a status (migration 006), or the
 * beneficiary's by `requests_beneficiary_page` with a beneficiary.
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
  const { text, params, limit } = requestIdsQuery(f, page);
  const rows = await sql.query<{ id: string; page_at: string }>(text, params);
  const cut = cutPage(rows, limit, 'requests', (r) => [r.page_at, r.id]);
  return { ids: cut.rows.map((r) => r.id), next_cursor: cut.next_cursor };
}

/** listRequestIds' statement: one more row than the page, to know whether another follows. */
export function requestIdsQuery(
  f: RequestFilter,
  page: PageInput = {},
): { text: string; params: unknown[]; limit: number } {
  const limit = pageLimit(page.limit);
  const after = decodeCursor(page.cursor, 'requests', ['instant', 'text']);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (value: unknown) => `$${params.push(value)}`;
  if (f.status) where.push(`r.status = ${p(f.status)}`);
  let from = 'requests r';
  // Waiting on the reader at a pending stage already makes a request visible to them.
  const visibleTo = f.visibleTo && f.visibleTo !== f.approver ? f.visibleTo : undefined;
  if (f.beneficiary && visibleTo) where.push(`r.beneficiary = ${p(f.beneficiary)}`);
  else if (f.beneficiary)
    // The beneficiary's own requests, few, and the other filters on them (OFFSET 0 keeps them
    // out of the subquery): statistics taken before a bulk load made the planner AND a bitmap of
    // every request in the status with the beneficiary's.
    from = `(SELECT * FROM requests q WHERE q.beneficiary = ${p(f.beneficiary)} OFFSET 0) r`;
  if (visibleTo) {
    // core/authz.ts's authorizeRequestRead as a set: requester, beneficiary or an approver at any
    // stage, three index probes (migration 030), so a page costs the reader's requests, not the
    // table's (an OR of the three walked every request). The page is drawn from that set, each
    // request fetched by its key (OFFSET 0 keeps the join a probe per id): with a status filter,
    // statistics taken before a bulk load made the planner read every request of that status.
    from = `requests_visible_to(${p(visibleTo)}) v
      CROSS JOIN LATERAL (SELECT * FROM requests q WHERE q.id = v OFFSET 0) r`;
  }
  if (f.approver) {
    const who = p(f.approver);
    // @> is what the GIN index on pending stages' approvers serves; = ANY() would scan them all.
    where.push(`r.id IN (SELECT s.request_id FROM approval_stages s WHERE s.state = 'pending' AND s.approvers @> ARRAY[${who}]::text[])
                AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.approver = ${who})`);
    where.push(`r.status = 'pending_approval'`);
  }
  if (after) where.push(`(r.created_at, r.id) > (${p(after[0])}::timestamptz, ${p(after[1])})`);
  const text = `SELECT r.id, ${instantKey('r.created_at')} AS page_at FROM ${from}
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY r.created_at, r.id LIMIT ${p(limit + 1)}`;
  return { text, params, limit };
}
