import type { Sql } from '../sql.js';

/**
 * Every table of the store is analyzed but these. A queue's statistics describe a moment: taken
 * between bursts (every pending-row partial index empty, the stage drained, the windows reset)
 * they make the planner probe the wrong index, a scan of every pending job per candidate once the
 * queue fills. The runtime's queries are written to be planned right on no statistics at all
 * (scale.test.ts checks them).
 */
export const NOT_ANALYZED = ['jobs', 'audit_stage', 'rate_windows'];

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
const DUE_SQL = `SELECT c.relname AS name, quote_ident(c.relname) AS quoted
     FROM pg_class c
     CROSS JOIN LATERAL (
       SELECT pg_relation_size(c.oid) / current_setting('block_size')::int AS pages) s
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
      AND c.relname <> ALL($1::text[])
      AND s.pages >= $2::int
      AND ($3::boolean OR s.pages >= c.relpages + greatest(8, c.relpages / 10))
    ORDER BY c.relname`;

/**
 * Refreshes the planner's statistics of the store's tables: those grown by a tenth since they were
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
    const due = await tx.query<{ name: string; quoted: string }>(DUE_SQL, [
      NOT_ANALYZED,
      MIN_ANALYZED_PAGES,
      claimed,
    ]);
    if (due.length > 0) await tx.query(`ANALYZE ${due.map((t) => t.quoted).join(', ')}`);
    return due.map((t) => t.name);
  });
}
