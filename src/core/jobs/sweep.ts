import { lapseOverdue } from '../approvals/act.js';
import { startRevocation } from '../grants/grants.js';
import { remindExpiring } from '../grants/reminders.js';
import { type WorkerDeps, grantHandlers } from '../grants/worker.js';
import type { Sql } from '../sql.js';
import {
  type FailureReport,
  JobRuntime,
  type PeriodicTask,
  type RuntimeSettings,
} from './runtime.js';

/**
 * Grants expired per transaction. Small, so that the first due grants' revocations are already
 * running while later ones are handed on, instead of every due grant being marked first.
 */
export const EXPIRY_BATCH = 200;

/** Expiry is enforced by the engine: every active grant past `expires_at` starts revocation. */
export async function expireDue(
  sql: Sql,
  now: Date,
  actor: string,
  limit = EXPIRY_BATCH,
): Promise<number> {
  return sql.transaction(async (tx) => {
    const due = await tx.query<{ id: string }>(
      `SELECT id FROM grants WHERE state = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [now, limit],
    );
    for (const g of due) await startRevocation(tx, now, actor, g.id, 'expiry', 'expired');
    return due.length;
  });
}

export interface SweepDeps extends WorkerDeps {
  runtime?: Partial<RuntimeSettings>;
}

/**
 * The runtime with Gatehouse's job kinds and periodic work registered. Later kinds (ITSM
 * write-back, notifications, reconciliation) register here too, and every runner gets them.
 */
export function gatehouseRuntime(d: SweepDeps, periodic = true): JobRuntime {
  const rt = new JobRuntime(d, d.runtime);
  for (const h of grantHandlers(d)) rt.handle(h);
  if (!periodic) return rt;
  const tasks: PeriodicTask[] = [
    {
      name: 'expired',
      async run(now) {
        const n = await expireDue(d.sql, now, d.workerId);
        return { count: n, more: n === EXPIRY_BATCH };
      },
    },
    {
      name: 'reminded',
      run: async (now) => ({
        count: await remindExpiring(d.sql, d.catalog, now, d.workerId),
        more: false,
      }),
    },
    {
      name: 'lapsed',
      run: async (now) => ({ count: await lapseOverdue(d.sql, now), more: false }),
    },
  ];
  for (const t of tasks) rt.every(t);
  return rt;
}

export interface SweepResult {
  expired: number;
  reminded: number;
  lapsed: number;
  jobs_done: number;
  jobs_failed: number;
  /** Each failed attempt of this run: retrying (with when) or given up. */
  failures: FailureReport[];
}

/** Runs due jobs only (no periodic work) until none is left; for workers and tests. */
export async function drainJobs(
  d: SweepDeps,
  limit = Infinity,
): Promise<{ done: number; failed: number; failures: FailureReport[] }> {
  const r = await gatehouseRuntime(d, false).drain({ limit });
  return { done: r.done, failed: r.failed, failures: r.failures };
}

/**
 * Runs all due work now: the registered periodic work (expiries, reminders, lapses) and every due
 * job (provisioning, revocation, retries), side by side.
 */
export async function sweep(d: SweepDeps): Promise<SweepResult> {
  const r = await gatehouseRuntime(d).drain();
  return {
    expired: r.periodic.expired ?? 0,
    reminded: r.periodic.reminded ?? 0,
    lapsed: r.periodic.lapsed ?? 0,
    jobs_done: r.done,
    jobs_failed: r.failed,
    failures: r.failures,
  };
}
