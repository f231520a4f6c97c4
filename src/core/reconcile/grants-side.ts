import type { Sql } from '../sql.js';

/** One grant as the merge sees it: with the account it maps to in the target. */
export interface GrantSide {
  id: string;
  identity: string;
  entitlement: string;
  app: string;
  state: string;
  request_id: string | null;
  account: string;
  /** The holder's status; null if the identity is unknown. */
  identity_status: string | null;
}

/** The states the merge reads: live ones, and `revoked` (access that should be gone). */
const STATES = `('provisioning', 'active', 'revoking', 'revoke_failed', 'revoked')`;

/**
 * One page of one target's grants in account order (UTF-8 bytes, as listings are), after the
 * keyset (account, id). Without an account attribute the account is the identity id and a target
 * of one entitlement (validate refuses two on one target) is one ordered range read of
 * `grants_reconcile` (migration 013): `entitlement = $1` and a row comparison for the keyset, the
 * only shapes PostgreSQL 15 reads in index order. `= ANY(…)` or an OR of the keyset's two halves
 * made every page collect and sort all of the target's remaining grants (quadratic: 0.3 s a page
 * at 100,000 grants, BENCHMARKS.md "Reconciliation"), whatever the statistics said.
 */
export function pageQuery(
  entitlements: readonly string[],
  attr: string,
  after: { account: string; id: string } | undefined,
  pageSize: number,
): { text: string; params: unknown[] } {
  const one = entitlements.length === 1;
  const params: unknown[] = [one ? entitlements[0] : entitlements, pageSize];
  const p = (v: unknown) => `$${params.push(v)}`;
  const account = attr
    ? `COALESCE(NULLIF(i.attributes->>${p(attr)}, ''), g.identity)`
    : 'g.identity';
  const keyset = after
    ? `AND (${account} COLLATE "C", g.id) > (${p(after.account)}, ${p(after.id)})`
    : '';
  return {
    text: `SELECT g.id, g.identity, g.entitlement, g.app, g.state, g.request_id,
                  ${account} AS account, i.status AS identity_status
             FROM grants g LEFT JOIN identities i ON i.id = g.identity
            WHERE ${one ? 'g.entitlement = $1' : 'g.entitlement = ANY($1::text[])'}
              AND g.state IN ${STATES} ${keyset}
            ORDER BY ${account} COLLATE "C", g.id
            LIMIT $2`,
    params,
  };
}

/**
 * The grants of the given entitlements (one target's), a page at a time in account order:
 * bounded memory, one round trip per page, never one per grant.
 */
export async function* grantsInAccountOrder(
  sql: Sql,
  entitlements: readonly string[],
  accountAttribute: string,
  pageSize: number,
): AsyncGenerator<GrantSide[]> {
  let after: { account: string; id: string } | undefined;
  for (;;) {
    const q = pageQuery(entitlements, accountAttribute, after, pageSize);
    const rows = await sql.query<GrantSide>(q.text, q.params);
    if (rows.length > 0) yield rows;
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1]!;
    after = { account: last.account, id: last.id };
  }
}
