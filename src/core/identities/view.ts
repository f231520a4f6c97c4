import { type Reader, authorizeIdentityRead, listReader } from '../authz.js';
import type { Catalog } from '../catalog/catalog.js';
import { type IdentityRow, toIdentity } from '../catalog/rows.js';
import { InputError, NotFoundError } from '../errors.js';
import { governanceOf, grantReaderFilter, listGrants } from '../grants/view.js';
import { IDENTITY_KINDS, IDENTITY_STATUSES } from '../model.js';
import type { Sql } from '../sql.js';
import { MAX_PAGE, type PageInput, cutPage, decodeCursor, pageLimit } from '../paging.js';

export interface IdentityFilter {
  kind?: string;
  status?: string;
}

function oneOf(value: string | undefined, allowed: readonly string[], field: string) {
  if (value !== undefined && !allowed.includes(value))
    throw new InputError(`${field}: "${value}" is not one of ${allowed.join(', ')}`, {
      code: 'invalid_input',
      field,
    });
}

/**
 * Identities by id, one keyset page at a time on the primary key. With a reader, only those
 * core/authz.ts's authorizeIdentityRead lets it see, in the query, so a page is never short.
 */
export async function listIdentities(
  sql: Sql,
  page: PageInput = {},
  f: IdentityFilter = {},
  visibleTo?: { id: string; governance: boolean },
) {
  oneOf(f.kind, IDENTITY_KINDS, 'kind');
  oneOf(f.status, IDENTITY_STATUSES, 'status');
  const limit = pageLimit(page.limit);
  const after = decodeCursor(page.cursor, 'identities', ['text']);
  const where: string[] = [];
  const params: unknown[] = [limit + 1];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (after) where.push(`i.id > ${p(after[0])}`);
  if (f.kind) where.push(`i.kind = ${p(f.kind)}`);
  if (f.status) where.push(`i.status = ${p(f.status)}`);
  let from = 'identities i';
  if (visibleTo && !visibleTo.governance) {
    // Themselves, their reports, what they own: each a page of its own by its index, the page
    // the first of their union. An OR would walk every identity by id to find a person's few.
    const who = p(visibleTo.id);
    const sides = [
      `id = ${who}`,
      `manager = ${who} AND manager <> ''`,
      `owner = ${who} AND owner <> ''`,
    ];
    const branches = sides.map(
      (side) =>
        `(SELECT * FROM identities i WHERE ${[...where, side].join(' AND ')} ORDER BY id LIMIT $1)`,
    );
    from = `(SELECT DISTINCT ON (id) * FROM (${branches.join(' UNION ALL ')}) u ORDER BY id) i`;
    where.length = 0;
  }
  const rows = await sql.query<IdentityRow & { grants: number | string }>(
    `SELECT i.*, (SELECT count(*) FROM grants g WHERE g.identity = i.id AND g.state IN ('provisioning', 'active', 'revoking', 'revoke_failed')) AS grants
       FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY i.id LIMIT $1`,
    params,
  );
  const cut = cutPage(rows, limit, 'identities', (r) => [r.id]);
  return {
    identities: cut.rows.map((r) => {
      const i = toIdentity(r);
      return {
        id: i.id,
        kind: i.kind,
        status: i.status,
        owner: i.owner || null,
        manager: i.manager || null,
        department: i.department,
        title: i.title,
        grants: Number(r.grants),
      };
    }),
    next_cursor: cut.next_cursor,
  };
}

/** What a list of identities shows a reader: everything, or what authorizeIdentityRead allows. */
export function identityReaderFilter(catalog: Catalog, reader: Reader | undefined) {
  const id = listReader(reader);
  if (id === undefined) return undefined;
  return { id, governance: governanceOf(catalog).members.includes(id) };
}

/**
 * CLI.md's `identities show --json`: the identity with its owner, attributes and grants. A reader
 * (the API's caller) must be allowed to see the identity, and sees only the grants it may see.
 */
export async function identityView(
  sql: Sql,
  id: string,
  read?: { reader: Reader; catalog: Catalog },
) {
  const [r] = await sql.query<IdentityRow>('SELECT * FROM identities WHERE id = $1', [id]);
  if (!r) throw new NotFoundError(`unknown identity "${id}"`, { field: 'identity' });
  const i = toIdentity(r);
  if (read)
    authorizeIdentityRead(read.reader, {
      id: i.id,
      manager: i.manager || null,
      owner: i.owner || null,
      governance: governanceOf(read.catalog),
    });
  const owns = await sql.query<{ id: string }>(
    `SELECT id FROM identities WHERE owner = $1 ORDER BY id`,
    [id],
  );
  return {
    id: i.id,
    kind: i.kind,
    status: i.status,
    display_name: i.displayName,
    owner: i.owner || null,
    manager: i.manager || null,
    attributes: { department: i.department, title: i.title, ...i.attributes },
    owns: owns.map((o) => o.id),
    ...(await identityGrants(sql, id, read && grantReaderFilter(read.catalog, read.reader))),
  };
}

/**
 * The first page of an identity's grants, as large as a page may be; a holder of more says where
 * the rest starts (the cursor of the grants list filtered by this identity).
 */
async function identityGrants(
  sql: Sql,
  id: string,
  visibleTo: ReturnType<typeof grantReaderFilter>,
) {
  const page = await listGrants(
    sql,
    { identity: id, ...(visibleTo ? { visibleTo } : {}) },
    { limit: MAX_PAGE },
  );
  return { grants: page.grants, grants_next_cursor: page.next_cursor };
}
