import { NotFoundError } from '../errors.js';
import type { Identity } from '../model.js';
import type { Sql } from '../sql.js';
import { type IdentityRow, toIdentity } from '../catalog/rows.js';

export async function findIdentity(
  sql: Sql,
  id: string,
  forUpdate = false,
): Promise<Identity | undefined> {
  const rows = await sql.query<IdentityRow>(
    `SELECT * FROM identities WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ? toIdentity(rows[0]) : undefined;
}

export async function requireIdentity(
  sql: Sql,
  id: string,
  what = 'identity',
  forUpdate = false,
): Promise<Identity> {
  const i = await findIdentity(sql, id, forUpdate);
  if (!i) throw new NotFoundError(`unknown ${what} "${id}"`, { field: what });
  return i;
}

export async function activeIdentities(sql: Sql, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await sql.query<{ id: string }>(
    `SELECT id FROM identities WHERE id = ANY($1::text[]) AND status = 'active'`,
    [ids],
  );
  return new Set(rows.map((r) => r.id));
}
