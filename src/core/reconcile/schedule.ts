import type { Catalog } from '../catalog/catalog.js';
import type { PeriodicTask } from '../jobs/runtime.js';
import type { ConnectorSource } from '../ports/connector.js';
import type { Sql } from '../sql.js';
import { reconcile } from './reconcile.js';
import { reconcileSettings } from './settings.js';

export interface ScheduleDeps {
  sql: Sql;
  catalog: Catalog;
  connectors: ConnectorSource;
  workerId: string;
}

/**
 * Claims a connector's scheduled run when its `every` has passed on the engine's clock, across
 * every process on the store: one statement, so two sweeps never both run it (as statistics are
 * claimed, src/core/jobs/sweep.ts). A clock moved backwards claims again.
 */
async function claim(sql: Sql, connector: string, now: Date, seconds: number): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO maintenance_runs (name, last_run_at) VALUES ($3, $1)
     ON CONFLICT (name) DO UPDATE SET last_run_at = EXCLUDED.last_run_at
      WHERE maintenance_runs.last_run_at <= $1::timestamptz - $2::int * interval '1 second'
         OR maintenance_runs.last_run_at > $1::timestamptz
     RETURNING name`,
    [now, seconds, `reconcile:${connector}`],
  );
  return rows.length > 0;
}

/**
 * Scheduled reconciliation as periodic work of the job runtime: each connector whose
 * `reconcile: { every }` has passed is reconciled, by its modes, as `schedule`. Not at rest: the
 * jobs its remediations queue are leased in the same drain (the runtime leases after each
 * periodic batch). Work in flight is no drift: a grant provisioning or being revoked is left to
 * its job (classify.ts).
 */
export function reconcileTask(d: ScheduleDeps): PeriodicTask {
  return {
    name: 'reconciled',
    async run(now) {
      let runs = 0;
      for (const [name, config] of [...d.catalog.connectors].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const every = reconcileSettings(config).every;
        if (every === null || !(await claim(d.sql, name, now, every))) continue;
        await reconcile(
          { sql: d.sql, catalog: d.catalog, connectors: d.connectors, now: () => now },
          { connector: name, dryRun: false, actor: d.workerId, trigger: 'schedule' },
        );
        runs++;
      }
      return { count: runs, more: false };
    },
  };
}
