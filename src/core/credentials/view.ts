import { NotFoundError } from '../errors.js';
import type { Sql } from '../sql.js';

/** A credential as the CLI and the API show it: never the secret, which is nowhere to show. */
export interface CredentialView {
  id: string;
  grant: string;
  identity: string;
  connector: string;
  account: string;
  state: 'issuing' | 'issued' | 'failed' | 'superseded';
  fingerprint: string;
  requested_by: string;
  requested_at: string;
  issued_at: string | null;
  valid_until: string;
  rotate_by: string;
  error: string | null;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v === null ? null : String(v));

export async function credentialView(sql: Sql, id: string): Promise<CredentialView> {
  const [r] = await sql.query<Record<string, unknown>>('SELECT * FROM credentials WHERE id = $1', [
    id,
  ]);
  if (!r) throw new NotFoundError(`unknown credential "${id}"`, { field: 'id' });
  return {
    id: r.id as string,
    grant: r.grant_id as string,
    identity: r.identity as string,
    connector: r.connector as string,
    account: r.account as string,
    state: r.state as CredentialView['state'],
    fingerprint: r.fingerprint as string,
    requested_by: r.requested_by as string,
    requested_at: iso(r.requested_at)!,
    issued_at: iso(r.issued_at),
    valid_until: iso(r.valid_until)!,
    rotate_by: iso(r.rotate_by)!,
    error: (r.error as string | null) ?? null,
  };
}

/**
 * Live credentials past their rotation period: the latest issued credential of each active grant
 * whose `rotate_by` has passed (PRODUCT.md section 10, "past rotation").
 */
export async function credentialsPastRotation(sql: Sql, now: Date): Promise<number> {
  const [r] = await sql.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM credentials c JOIN grants g ON g.id = c.grant_id
      WHERE c.state = 'issued' AND c.rotate_by <= $1 AND g.state = 'active'`,
    [now],
  );
  return Number(r?.n ?? 0);
}
