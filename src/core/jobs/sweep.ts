import { lapseOverdue } from '../approvals/act.js';
import { auditedTransaction, recordAuditMany } from '../audit/chain.js';
import { APPLY, REVOKE, enqueueGrantJobs } from '../grants/grants.js';
import { LEASE_PLANNER, cancelIdleMany } from './queue.js';
import { remindExpiring } from '../grants/reminders.js';
import { type WorkerDeps, grantHandlers } from '../grants/worker.js';
import { removalHandler } from '../reconcile/remove.js';
import { reconcileTask } from '../reconcile/schedule.js';
import { deliveryHandler } from '../notifications/deliver.js';
import {
  CLOSE_BATCH,
  ITEM_DEFAULT_BATCH,
  closeDueCampaigns,
  defaultDueItems,
} from '../reviews/close.js';
import { openRecurring } from '../reviews/recurring.js';
import type { NotifierSource } from '../ports/notifier.js';
import type { ItsmSource } from '../ports/itsm.js';
import { openHandler } from '../itsm/outbound.js';
import { trackTickets, writebackHandler } from '../itsm/writeback.js';
import type { Sql } from '../sql.js';
import { ANALYZE_EVERY_MINUTES, refreshStatistics } from './statistics.js';
import {
  type FailureReport,
  type JobHandler,
  JobRuntime,
  type PeriodicTask,
  type RuntimeSettings,
} from './runtime.js';

/**
 * Grants expired per transaction. Small enough that the first due grants' revocations are already
 * running while later ones are handed on, instead of every due grant being marked first; large
 * enough that a transaction's fixed cost (a handful of statements, whatever the batch) is shared.
 */
export const EXPIRY_BATCH = 500;

interface Expiring {
  id: string;
  identity: string;
  entitlement: string;
  app: string;
  request_id: string | null;
  expires_at: Date | null;
}

/**
 * One batch of due grants, oldest first: a walk of `grants_expiry_page` in order that stops at the
 * limit. Planned without a sort (the lease's setting, ADR 0021), because that walk must not depend
 * on the statistics: taken after a burst (ADR 0055 analyzes a table as it grows), they count no
 * active grant, and the planner would then gather every due grant and sort them, for each batch.
 */
export const EXPIRY_SQL = `WITH due AS (
         SELECT id FROM grants WHERE state = 'active' AND expires_at <= $1
          ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE grants g SET state = 'revoking', revoke_trigger = 'expiry', revoke_reason = 'expired',
              revoke_requested_at = $1, failure = NULL
         FROM due WHERE g.id = due.id
       RETURNING g.id, g.identity, g.entitlement, g.app, g.request_id, g.expires_at`;

/** The rest of expiry's transaction is planned as any other. */
const SORTS_AGAIN = 'SET LOCAL enable_sort TO DEFAULT';

/**
 * Expiry is enforced by the engine: every active grant past `expires_at` starts revocation, as
 * startRevocation does for one grant (state, revoke job, `grant.expired`), but set-based: one
 * batch is a few statements, not five per grant. An active grant has no apply in flight, so
 * cancelling idle applies is only for safety.
 */
export async function expireDue(
  sql: Sql,
  now: Date,
  actor: string,
  limit = EXPIRY_BATCH,
): Promise<number> {
  return auditedTransaction(sql, async (tx) => {
    await tx.query(LEASE_PLANNER);
    const rows = await tx.query<Expiring>(EXPIRY_SQL, [now, limit]);
    await tx.query(SORTS_AGAIN);
    if (rows.length === 0) return 0;
    // Oldest due first, as the selection was: revocations are leased in this order.
    const due = rows.sort(
      (a, b) =>
        (a.expires_at?.getTime() ?? 0) - (b.expires_at?.getTime() ?? 0) ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    await cancelIdleMany(
      tx,
      due.map((g) => g.id),
      [APPLY],
      now,
    );
    await enqueueGrantJobs(tx, now, due, REVOKE);
    await recordAuditMany(
      tx,
      now,
      due.map((g) => ({
        actor,
        action: 'grant.expired' as const,
        subject: g.id,
        refs: g.request_id ? [g.request_id] : [],
        details: {
          identity: g.identity,
          entitlement: g.entitlement,
          trigger: 'expiry',
          reason: 'expired',
          expires_at: g.expires_at?.toISOString() ?? null,
        },
      })),
    );
    return due.length;
  });
}

export interface SweepDeps extends WorkerDeps {
  runtime?: Partial<RuntimeSettings>;
  /** Planner statistics are refreshed at most this often (minutes of the injected clock). */
  analyzeEveryMinutes?: number;
  /** Senders for the notification channels; without them delivery jobs wait for a process that has them. */
  notifiers?: NotifierSource;
  /** Clients of the ITSM systems; without them write-back jobs wait for a process that has them. */
  itsm?: ItsmSource;
}

/**
 * The runtime with Gatehouse's job kinds and periodic work registered. Later kinds (ITSM
 * write-back, reconciliation) register here too, and every runner gets them.
 */
export function gatehouseRuntime(d: SweepDeps, periodic = true): JobRuntime {
  const rt = new JobRuntime(d, d.runtime);
  for (const h of grantHandlers(d)) rt.handle(h);
  rt.handle(removalHandler(d) as JobHandler);
  rt.handle(deliveryHandler(d));
  rt.handle(writebackHandler(d));
  rt.handle(openHandler(d) as JobHandler);
  if (!periodic) return rt;
  const tasks: PeriodicTask[] = [
    // At rest, once the run's work is done: a store's statistics should describe it between
    // bursts (a drained queue, its history), not a burst's passing state.
    {
      name: 'statistics',
      atRest: true,
      run: async (now) => ({
        count: (await refreshStatistics(d.sql, now, d.analyzeEveryMinutes ?? ANALYZE_EVERY_MINUTES))
          .length,
        more: false,
      }),
    },
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
    // Access reviews (ADR 0023): reviews.yaml campaigns opened once per period, and campaigns
    // past their due date closed with their default, as `review close` would.
    {
      name: 'reviews_opened',
      run: async (now) => ({
        count: await openRecurring(d.sql, d.catalog, now, d.workerId),
        more: false,
      }),
    },
    {
      name: 'reviews_closed',
      async run(now) {
        const n = await closeDueCampaigns(d.sql, d.catalog, now, d.workerId);
        return { count: n, more: n === CLOSE_BATCH };
      },
    },
    // Standalone items (post-event, mover, …) past their due date take their default (ADR 0038).
    {
      name: 'review_items_defaulted',
      async run(now) {
        const n = await defaultDueItems(d.sql, d.catalog, now);
        return { count: n, more: n === ITEM_DEFAULT_BATCH };
      },
    },
    // Scheduled reconciliation (`reconcile: { every }`), after expiry has started its revocations;
    // the jobs its remediations queue run in the same drain.
    reconcileTask(d),
    // At rest too: by then every event of the run (a verified grant, a revocation) is committed,
    // and the updates it enqueues for tickets run in the same drain.
    {
      name: 'tickets',
      atRest: true,
      run: (now) => trackTickets(d.sql, d.catalog, now),
    },
  ];
  for (const t of tasks) rt.every(t);
  return rt;
}

export interface SweepResult {
  expired: number;
  reminded: number;
  lapsed: number;
  reviews_opened: number;
  reviews_closed: number;
  /** Standalone review items past their due date that took their default. */
  review_items_defaulted: number;
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
export async function sweep(d: SweepDeps, stop?: AbortSignal): Promise<SweepResult> {
  const r = await gatehouseRuntime(d).drain(stop ? { stop } : {});
  return {
    expired: r.periodic.expired ?? 0,
    reminded: r.periodic.reminded ?? 0,
    lapsed: r.periodic.lapsed ?? 0,
    reviews_opened: r.periodic.reviews_opened ?? 0,
    reviews_closed: r.periodic.reviews_closed ?? 0,
    review_items_defaulted: r.periodic.review_items_defaulted ?? 0,
    jobs_done: r.done,
    jobs_failed: r.failed,
    failures: r.failures,
  };
}
