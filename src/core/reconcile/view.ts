import type { Sql } from '../sql.js';
import { FINDING_KINDS, type FindingKind } from './settings.js';

/**
 * The current drift, by kind: the findings of each connector's latest reconciliation (a later
 * run that finds nothing brings its count to zero). For `report` and /metrics.
 */
export async function findingsByKind(sql: Sql): Promise<Record<FindingKind, number>> {
  const rows = await sql.query<{ kind: FindingKind; n: number | string }>(
    `SELECT f.kind, count(*) AS n
       FROM (SELECT DISTINCT ON (connector) connector, run_id FROM reconcile_coverage
              ORDER BY connector, n DESC) latest
       JOIN reconcile_findings f ON f.run_id = latest.run_id AND f.connector = latest.connector
      GROUP BY f.kind`,
  );
  const out = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>;
  for (const r of rows) out[r.kind] = Number(r.n);
  return out;
}

/** Connectors whose latest reconciliation could not cover them (they cannot list), by name. */
export async function notCovered(sql: Sql): Promise<string[]> {
  const rows = await sql.query<{ connector: string }>(
    `SELECT connector FROM (SELECT DISTINCT ON (connector) connector, status FROM reconcile_coverage
              ORDER BY connector, n DESC) latest
      WHERE status = 'not_covered' ORDER BY connector`,
  );
  return rows.map((r) => r.connector);
}
