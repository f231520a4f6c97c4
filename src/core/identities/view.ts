import { type IdentityRow, toIdentity } from '../catalog/rows.js';
import { InputError } from '../errors.js';
import { listGrants } from '../grants/view.js';
import type { Sql } from '../sql.js';

export async function listIdentities(sql: Sql) {
  const rows = await sql.query<IdentityRow & { grants: number | string }>(
    `SELECT i.*, (SELECT count(*) FROM grants g WHERE g.identity = i.id AND g.state IN ('provisioning', 'active', 'revoking', 'revoke_failed')) AS grants
       FROM identities i ORDER BY i.id LIMIT 10000`,
  );
  return rows.map((r) => {
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
  });
}

/** CLI.md's `identities show --json`: the identity with its owner, attributes and grants. */
export async function identityView(sql: Sql, id: string) {
  const [r] = await sql.query<IdentityRow>('SELECT * FROM identities WHERE id = $1', [id]);
  if (!r) throw new InputError(`unknown identity "${id}"`);
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
    grants: await listGrants(sql, { identity: id }),
  };
}
