import type { Sql } from '../sql.js';

/** Decision inputs read by index for one beneficiary, never by scanning all grants. */

export const LIVE_STATES = `('provisioning', 'active', 'revoking')`;

export interface Held {
  /** Entitlements the beneficiary holds (live grants), with grant ids. */
  grants: Map<string, string>;
  /** Entitlements the beneficiary has pending requests for, with request ids. */
  pending: Map<string, string>;
}

export async function heldBy(sql: Sql, identity: string): Promise<Held> {
  const rows = await sql.query<{ id: string; entitlement: string; pending: boolean }>(
    `SELECT id, entitlement, false AS pending FROM grants WHERE identity = $1 AND state IN ${LIVE_STATES}
     UNION ALL
     SELECT id, entitlement, true AS pending FROM requests WHERE beneficiary = $1 AND status = 'pending_approval'`,
    [identity],
  );
  return {
    grants: new Map(rows.filter((r) => !r.pending).map((r) => [r.entitlement, r.id])),
    pending: new Map(rows.filter((r) => r.pending).map((r) => [r.entitlement, r.id])),
  };
}

export async function seatsUsed(sql: Sql, app: string, tier: string): Promise<number> {
  const [r] = await sql.query<{ n: number | string }>(
    `SELECT count(*) AS n FROM grants g JOIN entitlements e ON e.id = g.entitlement
     WHERE g.app = $1 AND e.licence_tier = $2 AND g.state IN ${LIVE_STATES}`,
    [app, tier],
  );
  return Number(r?.n ?? 0);
}

export interface RoleFit {
  score: number;
  peers: number;
  holding: number;
  explanation: string;
}

/** Share (0–100) of the beneficiary's peers — same department and title — holding the entitlement. */
export async function roleFit(
  sql: Sql,
  who: { id: string; department: string; title: string },
  entitlement: string,
): Promise<RoleFit> {
  // EXISTS per peer probes the (identity, entitlement) live-grant index: cost follows the size of
  // the peer group, never the number of grants of a popular entitlement.
  const [r] = await sql.query<{ peers: number | string; holding: number | string }>(
    `SELECT count(*) AS peers,
            count(*) FILTER (WHERE EXISTS (
              SELECT 1 FROM grants g WHERE g.identity = i.id AND g.entitlement = $3 AND g.state IN ${LIVE_STATES})) AS holding
       FROM identities i
      WHERE i.department = $1 AND i.title = $2 AND i.status = 'active' AND i.id <> $4`,
    [who.department, who.title, entitlement, who.id],
  );
  const peers = Number(r?.peers ?? 0);
  const holding = Number(r?.holding ?? 0);
  const score = peers === 0 ? 0 : Math.round((100 * holding) / peers);
  const explanation =
    peers === 0
      ? 'no peers with the same department and title'
      : `held by ${holding} of ${peers} peers (${who.department || '-'} / ${who.title || '-'})`;
  return { score, peers, holding, explanation };
}
