import { type IdentityRow, toIdentity } from '../catalog/rows.js';
import { NotFoundError } from '../errors.js';
import { listGrants } from '../grants/view.js';
import type { Sql } from '../sql.js';
import { MAX_PAGE, type PageInput, cutPage, decodeCursor, pageLimit } from '../paging.js';

/** Identities by id, one keyset page at a time on the primary key. */
export async function listIdentities(sql: Sql, page: PageInput = {}) {
  const limit = pageLimit(page.limit);
  const after = decodeCursor(page.cursor, 'identities', ['text']);
  const rows = await sql.query<IdentityRow & { grants: number | string }>(
    `SELECT i.*, (SELECT count(*) FROM grants g WHERE g.identity = i.id AND g.state IN ('provisioning', 'active', 'revoking', 'revoke_failed')) AS grants
       FROM identities i ${after ? 'WHERE i.id > $2' : ''} ORDER BY i.id LIMIT $1`,
    after ? [limit + 1, after[0]] : [limit + 1],
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

/** CLI.md's `identities show --json`: the identity with its owner, attributes and grants. */
export async function identityView(sql: Sql, id: string) {
  const [r] = await sql.query<IdentityRow>('SELECT * FROM identities WHERE id = $1', [id]);
  if (!r) throw new NotFoundError(`unknown identity "${id}"`, { field: 'identity' });
  const i = toIdentity(r);
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
    ...(await identityGrants(sql, id)),
  };
}

/**
 * The first page of an identity's grants, as large as a page may be; a holder of more says where
 * the rest starts (the cursor of the grants list filtered by this identity).
 */
async function identityGrants(sql: Sql, id: string) {
  const page = await listGrants(sql, { identity: id }, { limit: MAX_PAGE });
  return { grants: page.grants, grants_next_cursor: page.next_cursor };
}
