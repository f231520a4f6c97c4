import type { Catalog } from '../catalog/catalog.js';
import { InputError, NotFoundError } from '../errors.js';
import { type PageInput, cutPage, decodeCursor, instantKey, pageLimit } from '../paging.js';
import type { Sql } from '../sql.js';
import type { TaskRow } from './tasks.js';

export interface TaskView {
  id: string;
  grant: string;
  identity: string;
  entitlement: string;
  op: 'apply' | 'revoke';
  connector: string;
  fulfillers: string;
  account: string;
  target: Record<string, string>;
  instructions: string | null;
  state: string;
  opened_at: string;
  due_at: string;
  /** Open past its due time (the connector's SLA). */
  overdue: boolean;
  closed_at: string | null;
  closed_by: string | null;
  comment: string | null;
}

type Row = TaskRow & { identity: string; entitlement: string };

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function taskView(t: Row, now: Date): TaskView {
  return {
    id: t.id,
    grant: t.grant_id,
    identity: t.identity,
    entitlement: t.entitlement,
    op: t.op,
    connector: t.connector,
    fulfillers: t.fulfillers,
    account: t.account,
    target: t.target,
    instructions: t.instructions,
    state: t.state,
    opened_at: iso(t.opened_at)!,
    due_at: iso(t.due_at)!,
    overdue: t.state === 'open' && new Date(t.due_at).getTime() < now.getTime(),
    closed_at: iso(t.closed_at),
    closed_by: t.closed_by,
    comment: t.comment,
  };
}

export interface TaskFilter {
  /** Open tasks this identity may fulfil: those of every group it belongs to. */
  fulfiller?: string;
  /** `open` (default), `done`, `failed`, `cancelled`, or `all`. */
  state?: string;
  /** Only open tasks past their due time. */
  overdue?: boolean;
  grant?: string;
}

const STATES = ['open', 'done', 'failed', 'cancelled', 'all'];

/**
 * Tasks soonest due first, one keyset page at a time, on migration 012's indexes: a fulfiller's
 * open tasks by (fulfillers, due_at, id), all open tasks by (due_at, id).
 */
export async function listTasks(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  f: TaskFilter,
  page: PageInput = {},
): Promise<{ tasks: TaskView[]; next_cursor: string | null }> {
  const state = f.state ?? 'open';
  if (!STATES.includes(state))
    throw new InputError(`state is one of ${STATES.join(', ')}, not "${state}"`, {
      code: 'invalid_state',
      field: 'state',
    });
  const limit = pageLimit(page.limit);
  const tag = 'tasks';
  const after = decodeCursor(page.cursor, tag, ['instant', 'text']);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (value: unknown) => `$${params.push(value)}`;
  if (state !== 'all') where.push(`t.state = ${p(state)}`);
  if (f.fulfiller !== undefined) {
    const groups = [...catalog.groups]
      .filter(([, members]) => members.includes(f.fulfiller!))
      .map(([g]) => g);
    where.push(`t.fulfillers = ANY(${p(groups)}::text[])`);
  }
  if (f.overdue) where.push(`t.state = 'open' AND t.due_at < ${p(now)}`);
  if (f.grant) where.push(`t.grant_id = ${p(f.grant)}`);
  if (after) where.push(`(t.due_at, t.id) > (${p(after[0])}::timestamptz, ${p(after[1])})`);
  const rows = await sql.query<Row & { page_at: string }>(
    `SELECT t.*, g.identity, g.entitlement, ${instantKey('t.due_at')} AS page_at
       FROM fulfilment_tasks t JOIN grants g ON g.id = t.grant_id
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY t.due_at, t.id LIMIT ${p(limit + 1)}`,
    params,
  );
  const cut = cutPage(rows, limit, tag, (r) => [r.page_at, r.id]);
  return { tasks: cut.rows.map((r) => taskView(r, now)), next_cursor: cut.next_cursor };
}

/** One task, by id. */
export async function taskById(sql: Sql, now: Date, id: string): Promise<TaskView> {
  const [row] = await sql.query<Row>(
    `SELECT t.*, g.identity, g.entitlement FROM fulfilment_tasks t JOIN grants g ON g.id = t.grant_id WHERE t.id = $1`,
    [id],
  );
  if (!row) throw new NotFoundError(`unknown task "${id}"`, { field: 'id' });
  return taskView(row, now);
}
