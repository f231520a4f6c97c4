import type { Catalog } from '../catalog/catalog.js';
import { appOf } from '../catalog/catalog.js';
import { type IdentityRow, toIdentity } from '../catalog/rows.js';
import type { Identity } from '../model.js';
import { type KnownApprovers, catalogApprovers } from '../approvals/resolve.js';
import { type Sql, opening, prepared } from '../sql.js';

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
  /** Who could approve, read with the facts when the catalog was given (ADR 0039). */
  approvers?: KnownApprovers;
  /**
   * For a dry run only: the seats in use of the entitlement's licence pool, read with the facts
   * and under no lock, since nothing will take one. A decision that may take a seat leaves this
   * unset and counts under the pool lock.
   */
  seats?: { pool: string; used: number };
}

export interface LoadedFacts {
  beneficiary: Identity;
  requesterExists: boolean;
  facts: DecisionFacts;
}

// Usually a transaction's first statement: it may travel with the BEGIN (ADR 0044).
const LOCK_IDENTITY = prepared(opening('SELECT 1 FROM identities WHERE id = $1 FOR UPDATE'));

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

// The ids as one JSON text, so the statement can travel with its BEGIN (ADR 0044).
const LOCK_IDENTITIES = prepared(
  opening(
    `SELECT id FROM identities WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
        FOR UPDATE SKIP LOCKED`,
  ),
);

/**
 * Locks the rows of those identities nobody else holds, and answers their ids: a submission group
 * (ADR 0051) decides for these and leaves the rest (held elsewhere, or unknown) to be submitted
 * alone. Never waiting while holding several identities, it cannot deadlock with a writer that
 * locks identities in another order (a sync locks its whole population).
 */
export async function lockFreeIdentities(sql: Sql, ids: readonly string[]): Promise<Set<string>> {
  const rows = await sql.query<{ id: string }>(LOCK_IDENTITIES, [JSON.stringify(ids)]);
  return new Set(rows.map((r) => r.id));
}

const LOCK_SEAT_POOL = prepared(
  `SELECT pg_advisory_xact_lock(hashtext('gatehouse.seats'), hashtext($1))`,
);

/**
 * Seats of one licence pool are counted and taken under a per-pool lock held to commit, so two
 * decisions for different people cannot both take the last seat. Always taken after the
 * beneficiary's lock, never before, so the two locks cannot deadlock.
 */
export async function lockSeatPool(sql: Sql, app: string, tier: string): Promise<void> {
  await sql.query(LOCK_SEAT_POOL, [seatPool(app, tier)]);
}

export function seatPool(app: string, tier: string): string {
  return `${app}/${tier}`;
}

interface FactsRow {
  beneficiary: IdentityRow;
  config_hash: string | null;
  requester_status: string | null;
  owner_status: string | null;
  held: { id: string; entitlement: string; pending: boolean }[];
  fit: { peers: number; holding: number };
  owner_manager: string | null;
  active: string[];
  seats_used?: number | string;
}

/**
 * Role fit from the counts kept per peer group (migration 020, ADR 0031): the group's active
 * members and, summed over its shards, those holding the entitlement live — less the
 * beneficiary itself, which is counted in its own group while active. Two primary-key reads, so
 * a group of three costs what a group of twenty thousand does, and no statistics can turn it into
 * a scan of the grants (`fit-plan.test.ts`). `b` is the beneficiary's row, `$3` the entitlement.
 */
const FIT_SELECT = `json_build_object(
         'peers', coalesce((SELECT m.members FROM peer_members m
                             WHERE m.peer_group = peer_group(b.kind, b.department, b.title, b.owner)), 0)
                  - (b.status = 'active')::int,
         'holding', coalesce((SELECT sum(p.holders) FROM peer_holders p
                               WHERE p.peer_group = peer_group(b.kind, b.department, b.title, b.owner)
                                 AND p.entitlement = $3), 0)
                    - (b.status = 'active' AND EXISTS (
                         SELECT 1 FROM grants g
                          WHERE g.identity = b.id AND g.entitlement = $3 AND g.state IN ${LIVE_STATES}))::int)`;

/**
 * `$4` the approvers the catalog names for the entitlement (`catalogApprovers`). The active ones
 * among them, the beneficiary's manager and owner and the owner's manager come back in `active`,
 * so resolving the chain needs no round trip of its own. One primary-key probe per id,
 * correlated so that no estimate of the array's size can make it a bitmap of every active
 * identity ANDed with the ids (which the plain `id = ANY(…) AND status = 'active'` became at
 * 210,000 identities: 16–28 ms).
 */
const factsSql = (seats: string) =>
  `WITH b AS (SELECT * FROM identities WHERE id = $1)
     SELECT row_to_json(b) AS beneficiary,
            (SELECT config_hash FROM config_state WHERE id = 1) AS config_hash,
            (SELECT r.status FROM identities r WHERE r.id = $2) AS requester_status,
            o.status AS owner_status,
            o.manager AS owner_manager,
            ARRAY(SELECT c.id FROM unnest($4::text[] || ARRAY[b.manager, b.owner, o.manager]) c(id)
                   WHERE (SELECT a.status FROM identities a WHERE a.id = c.id) = 'active') AS active,
            (SELECT coalesce(json_agg(h), '[]'::json) FROM (
               SELECT id, entitlement, false AS pending FROM grants WHERE identity = $1 AND state IN ${LIVE_STATES}
               UNION ALL
               SELECT id, entitlement, true AS pending FROM requests WHERE beneficiary = $1 AND status = 'pending_approval'
             ) h) AS held,
            ${FIT_SELECT} AS fit${seats}
       FROM b LEFT JOIN identities o ON o.id = b.owner`;

export const FACTS_SQL = prepared(factsSql(''));

/**
 * FACTS_SQL and, for a dry run of a licensed entitlement, the seats in use of its pool
 * (`$5` app, `$6` tier; SEATS_SQL's form). A statement of its own rather than a null pool
 * in FACTS_SQL: a custom plan folds `e.app = NULL` away, so the generic plan would look dearer
 * than every custom one and the server would plan the statement again on every call.
 */
export const FACTS_SEATS_SQL = prepared(
  factsSql(`,
            (SELECT coalesce(sum((SELECT sum(s.holders) FROM entitlement_holders s WHERE s.entitlement = e.id)), 0)
               FROM entitlements e WHERE e.app = $5 AND e.licence_tier = $6) AS seats_used`),
);

/**
 * The role-fit part of FACTS_SQL alone, for the benchmark that measures it (`$1` the
 * beneficiary, `$2` the entitlement): built from the same text, so the two cannot drift apart.
 */
export const ROLE_FIT_SQL = prepared(
  `WITH b AS (SELECT * FROM identities WHERE id = $1)
     SELECT ${FIT_SELECT.replaceAll('$3', '$2')} AS fit FROM b`,
);

/** Whom an identity's role fit compares it with (ADR 0031), as the explanation names them. */
export function peerGroupLabel(i: Identity): string {
  return i.kind === 'human'
    ? `${i.department || '-'} / ${i.title || '-'}`
    : `${i.kind} owned by ${i.owner || '-'}`;
}

/**
 * Everything in one round trip. Role fit is the share (0–100) of the beneficiary's peers holding
 * the entitlement: for a person, active people of the same department and title; for a non-human
 * identity, active identities of its kind with the same owner (ADR 0031). Both counts are read
 * from those the store keeps per peer group (FIT_SELECT).
 * With `lock`, the beneficiary's row is locked first (`lockIdentity`), and the facts are read
 * after the lock is held. With the catalog, the possible approvers' activeness is read too, and
 * for a `dryRun` (explain: nothing written, no transaction) the licence pool's seats.
 */
export async function loadFacts(
  sql: Sql,
  q: {
    beneficiary: string;
    requester: string;
    entitlement: string;
    lock: boolean;
    catalog?: Catalog;
    dryRun?: boolean;
  },
): Promise<LoadedFacts | undefined> {
  if (q.lock && !(await lockIdentity(sql, q.beneficiary))) return undefined;
  const ent = q.catalog?.entitlements.get(q.entitlement);
  const named = q.catalog && ent ? catalogApprovers(q.catalog, ent) : [];
  const pool =
    q.dryRun && !q.lock && q.catalog && ent?.licenceTier
      ? { app: appOf(q.catalog, ent.app).id, tier: ent.licenceTier }
      : undefined;
  const params = [q.beneficiary, q.requester, q.entitlement, named];
  const [r] = pool
    ? await sql.query<FactsRow>(FACTS_SEATS_SQL, [...params, pool.app, pool.tier])
    : await sql.query<FactsRow>(FACTS_SQL, params);
  if (!r) return undefined;
  return loaded(r, Boolean(ent), named, pool);
}

/**
 * FACTS_SQL for several beneficiaries in one statement (a submission group, ADR 0051): `$1` a JSON
 * array of `{ n, beneficiary, requester, entitlement, named }`; a row per beneficiary that exists,
 * with its `n`. Built from FACTS_SQL's own text, each read still a probe per beneficiary. JSON
 * rather than arrays: the planner sizes a function's rows alike with the value known or not, so
 * the plan is made once per connection; sized from the arrays, every call was planned afresh.
 */
export const FACTS_MANY_SQL = prepared(
  `SELECT q.n, f.*
     FROM jsonb_to_recordset($1::jsonb) AS q(n integer, beneficiary text, requester text, entitlement text, named jsonb)
     CROSS JOIN LATERAL (${factsSql('')
       .replaceAll('$4::text[]', 'ARRAY(SELECT jsonb_array_elements_text(q.named))')
       .replace(/\$([1-3])(?!\d)/g, (_, i: string) =>
         i === '1' ? 'q.beneficiary' : i === '2' ? 'q.requester' : 'q.entitlement',
       )}) f`,
);

/**
 * loadFacts for several decisions whose beneficiaries' rows the caller has locked, in one round
 * trip; undefined where the beneficiary does not exist. The beneficiaries must differ: each
 * decision's facts are read before any of them is recorded.
 */
export async function loadFactsMany(
  sql: Sql,
  catalog: Catalog,
  qs: readonly { beneficiary: string; requester: string; entitlement: string }[],
): Promise<(LoadedFacts | undefined)[]> {
  const named = qs.map((q) => {
    const ent = catalog.entitlements.get(q.entitlement);
    return ent ? catalogApprovers(catalog, ent) : [];
  });
  const rows = await sql.query<FactsRow & { n: number }>(FACTS_MANY_SQL, [
    JSON.stringify(
      qs.map((q, n) => ({
        n,
        beneficiary: q.beneficiary,
        requester: q.requester,
        entitlement: q.entitlement,
        named: named[n],
      })),
    ),
  ]);
  const out: (LoadedFacts | undefined)[] = qs.map(() => undefined);
  for (const r of rows) {
    const i = r.n;
    out[i] = loaded(r, catalog.entitlements.has(qs[i]!.entitlement), named[i]!, undefined);
  }
  return out;
}

/** A facts row as loadFacts answers it. */
function loaded(
  r: FactsRow,
  withApprovers: boolean,
  named: readonly string[],
  pool: { app: string; tier: string } | undefined,
): LoadedFacts {
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
            ? `no peers (${peerGroupLabel(beneficiary)})`
            : `held by ${holding} of ${peers} peers (${peerGroupLabel(beneficiary)})`,
      },
      ...(withApprovers
        ? {
            approvers: {
              ownerManager: r.owner_manager,
              checked: new Set(
                [...named, beneficiary.manager, beneficiary.owner, r.owner_manager].filter(
                  (id): id is string => Boolean(id),
                ),
              ),
              active: new Set(r.active),
            },
          }
        : {}),
      ...(pool
        ? { seats: { pool: seatPool(pool.app, pool.tier), used: Number(r.seats_used) } }
        : {}),
    },
  };
}

/**
 * Seats of a licence pool in use: live grants of the app's entitlements of that tier, summed from
 * the counts kept per entitlement (migration 020, ADR 0031) — one primary-key range per
 * entitlement of the pool, never a read of the app's grants. The correlated form keeps it a probe
 * per entitlement whatever the statistics say (`fit-plan.test.ts`).
 */
export const SEATS_SQL = prepared(
  `SELECT coalesce(sum((SELECT sum(h.holders) FROM entitlement_holders h WHERE h.entitlement = e.id)), 0) AS n
     FROM entitlements e WHERE e.app = $1 AND e.licence_tier = $2`,
);

export async function seatsUsed(sql: Sql, app: string, tier: string): Promise<number> {
  const [r] = await sql.query<{ n: number | string }>(SEATS_SQL, [app, tier]);
  return Number(r?.n ?? 0);
}
