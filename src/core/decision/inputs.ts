import { type IdentityRow, toIdentity } from '../catalog/rows.js';
import type { Identity } from '../model.js';
import { type Sql, prepared } from '../sql.js';

/** Decision inputs read by index for one beneficiary, never by scanning all grants. */

export const LIVE_STATES = `('provisioning', 'active', 'revoking', 'revoke_failed')`;

export interface Held {
  /** Entitlements the beneficiary holds (live grants), with grant ids. */
  grants: Map<string, string>;
  /** Entitlements the beneficiary has pending requests for, with request ids. */
  pending: Map<string, string>;
}

export interface RoleFit {
  score: number;
  peers: number;
  holding: number;
  explanation: string;
}

/** What the store knows that a decision about one person and one entitlement needs. */
export interface DecisionFacts {
  /** The configuration in force when the facts were read ('empty' before any apply). */
  configHash: string;
  /** Status of a non-human beneficiary's owner; null when there is no such identity. */
  ownerStatus: string | null;
  /** The requester's status; null when the requester is no identity (`gatehouse:birthright`). */
  requesterStatus: string | null;
  held: Held;
  fit: RoleFit;
}

export interface LoadedFacts {
  beneficiary: Identity;
  requesterExists: boolean;
  facts: DecisionFacts;
}

const LOCK_IDENTITY = prepared('SELECT 1 FROM identities WHERE id = $1 FOR UPDATE');

/**
 * Locks the beneficiary's row, in a statement of its own: under READ COMMITTED each statement
 * reads a snapshot taken when it starts, so facts read by a later statement include everything
 * committed by whoever held the lock before. (Locking inside the statement that reads the facts
 * would read the snapshot taken before the wait.) Decisions about one identity queue here across
 * nodes, so two concurrent requests cannot both pass the duplicate and SoD checks.
 */
export async function lockIdentity(sql: Sql, id: string): Promise<boolean> {
  const rows = await sql.query(LOCK_IDENTITY, [id]);
  return rows.length > 0;
}

/**
 * Seats of one licence pool are counted and taken under a per-pool lock held to commit, so two
 * decisions for different people cannot both take the last seat. Always taken after the
 * beneficiary's lock, never before, so the two locks cannot deadlock.
 */
export async function lockSeatPool(sql: Sql, app: string, tier: string): Promise<void> {
  await sql.query(`SELECT pg_advisory_xact_lock(hashtext('gatehouse.seats'), hashtext($1))`, [
    `${app}/${tier}`,
  ]);
}

interface FactsRow {
  beneficiary: IdentityRow;
  config_hash: string | null;
  requester_status: string | null;
  owner_status: string | null;
  held: { id: string; entitlement: string; pending: boolean }[];
  fit: { peers: number; holding: number };
}

export const FACTS_SQL = prepared(
  `WITH b AS (SELECT * FROM identities WHERE id = $1)
     SELECT row_to_json(b) AS beneficiary,
            (SELECT config_hash FROM config_state WHERE id = 1) AS config_hash,
            (SELECT r.status FROM identities r WHERE r.id = $2) AS requester_status,
            (SELECT o.status FROM identities o WHERE o.id = b.owner) AS owner_status,
            (SELECT coalesce(json_agg(h), '[]'::json) FROM (
               SELECT id, entitlement, false AS pending FROM grants WHERE identity = $1 AND state IN ${LIVE_STATES}
               UNION ALL
               SELECT id, entitlement, true AS pending FROM requests WHERE beneficiary = $1 AND status = 'pending_approval'
             ) h) AS held,
            (SELECT json_build_object('peers', count(*), 'holding', count(x.held)) FROM identities i
               LEFT JOIN LATERAL (
                 SELECT true AS held FROM grants g
                  WHERE g.identity = i.id AND g.entitlement = $3 AND g.state IN ${LIVE_STATES} LIMIT 1
               ) x ON true
              WHERE i.department = b.department AND i.title = b.title AND i.status = 'active' AND i.id <> b.id) AS fit
       FROM b`,
);

/**
 * Everything in one round trip. Role fit is the share (0–100) of the beneficiary's peers — same
 * department and title — holding the entitlement, counted in one pass over the peer group. Each
 * peer's probe is a LATERAL subquery with LIMIT 1, which the planner cannot turn into a semi-join:
 * written as EXISTS, stale statistics (a grant table analyzed while small) let it read every
 * holder of the entitlement and hash them (0.45 → 10+ ms, growing with the store). This way the
 * cost follows the peer group, never the number of grants, whatever the statistics say
 * (`fit-plan.test.ts`).
 * With `lock`, the beneficiary's row is locked first (`lockIdentity`), and the facts are read
 * after the lock is held.
 */
export async function loadFacts(
  sql: Sql,
  q: { beneficiary: string; requester: string; entitlement: string; lock: boolean },
): Promise<LoadedFacts | undefined> {
  if (q.lock && !(await lockIdentity(sql, q.beneficiary))) return undefined;
  const [r] = await sql.query<FactsRow>(FACTS_SQL, [q.beneficiary, q.requester, q.entitlement]);
  if (!r) return undefined;
  const beneficiary = toIdentity(r.beneficiary);
  const peers = Number(r.fit.peers);
  const holding = Number(r.fit.holding);
  return {
    beneficiary,
    requesterExists: r.requester_status !== null,
    facts: {
      configHash: r.config_hash ?? 'empty',
      ownerStatus: r.owner_status,
      requesterStatus: r.requester_status,
      held: {
        grants: new Map(r.held.filter((h) => !h.pending).map((h) => [h.entitlement, h.id])),
        pending: new Map(r.held.filter((h) => h.pending).map((h) => [h.entitlement, h.id])),
      },
      fit: {
        score: peers === 0 ? 0 : Math.round((100 * holding) / peers),
        peers,
        holding,
        explanation:
          peers === 0
            ? 'no peers with the same department and title'
            : `held by ${holding} of ${peers} peers (${beneficiary.department || '-'} / ${beneficiary.title || '-'})`,
      },
    },
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
