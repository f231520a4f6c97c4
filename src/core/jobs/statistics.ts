import type { Sql } from '../sql.js';

/**
 * The tables whose plans the use cases, the API's authentication and expiry depend on. Not
 * `jobs` nor `audit_stage`: a queue's statistics describe a moment, and taken between bursts
 * (every pending-row partial index empty, the stage drained) they make the planner probe the
 * wrong index, a scan of every pending job per candidate once the queue fills. The runtime's
 * queries are written to be planned right on no statistics at all (scale.test.ts checks them).
 */
export const ANALYZED = [
  'api_tokens',
  'approval_stages',
  'approvals',
  'audit_events',
  'entitlement_holders',
  'grants',
  'identities',
  'peer_holders',
  'peer_members',
  'requests',
  'sessions',
];

/** Default for SweepDeps.analyzeEveryMinutes. */
export const ANALYZE_EVERY_MINUTES = 10;

/**
 * A table smaller than this is left unanalyzed. The server plans a table never analyzed as at
 * least ten pages, which picks the index probes a growing table needs; statistics taken while it
 * is empty make it cost nothing to scan, and every plan cached meanwhile — a prepared statement's
 * generic plan lives as long as its connection — scans the table on every call, however far it
 * grows, until the next ANALYZE (ADR 0055).
 */
export const MIN_ANALYZED_PAGES = 10;

const CLAIM_SQL = `INSERT INTO maintenance_runs (name, last_run_at) VALUES ('analyze', $1)
     ON CONFLICT (name) DO UPDATE SET last_run_at = EXCLUDED.last_run_at
      WHERE maintenance_runs.last_run_at <= $1::timestamptz - $2::int * interval '1 minute'
         OR maintenance_runs.last_run_at > $1::timestamptz
     RETURNING name`;

// `relpages` is the size ANALYZE (or VACUUM) last saw; the file's size is the table's now. Grown
// is autoanalyze's rule in pages: a tenth more, and at least eight pages, since the last look.
const DUE_SQL = `SELECT t.name
     FROM unnest($1::text[]) AS t(name)
     CROSS JOIN LATERAL (
       SELECT c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int AS pages
         FROM pg_class c WHERE c.oid = to_regclass(t.name)) s
    WHERE s.pages >= $2::int
      AND ($3::boolean OR s.pages >= s.relpages + greatest(8, s.relpages / 10))
    ORDER BY t.name`;

/**
 * Refreshes the planner's statistics of the busy tables: those grown by a tenth since they were
 * last analyzed, at every run, and all of them at most once per `minutes` of the engine's clock
 * across every process on the store. PGlite has no autovacuum and some servers run without it;
 * ANALYZE is also what makes every connection plan its prepared statements again, so a table that
 * grew from empty stops being scanned by the plans made while it was small. One process at a
 * time (a transaction-scoped advisory lock; the clock's claim is one statement). Answers the
 * tables analyzed.
 */
export async function refreshStatistics(sql: Sql, now: Date, minutes: number): Promise<string[]> {
  return sql.transaction(async (tx) => {
    const [lock] = await tx.query<{ held: boolean }>(
      `SELECT pg_try_advisory_xact_lock(hashtext('gatehouse.statistics')) AS held`,
    );
    if (!lock?.held) return [];
    const claimed = (await tx.query(CLAIM_SQL, [now, minutes])).length > 0;
    const due = await tx.query<{ name: string }>(DUE_SQL, [ANALYZED, MIN_ANALYZED_PAGES, claimed]);
    const names = due.map((t) => t.name);
    if (names.length > 0) await tx.query(`ANALYZE ${names.join(', ')}`);
    return names;
  });
}
