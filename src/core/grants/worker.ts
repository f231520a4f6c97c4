import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../clock.js';
import type { AccessRef, ConnectorSource } from '../ports/connector.js';
import { addSeconds } from '../duration.js';
import type { Sql } from '../sql.js';
import type { GrantRow } from './grants.js';
import { toEntitlement } from '../catalog/rows.js';

export const MAX_ATTEMPTS = 5;
const LEASE_SECONDS = 120;

/** 30 s, 2 min, 8 min, 32 min: a target outage of an hour still ends in `active`. */
export function backoffSeconds(attempt: number): number {
  return 30 * 4 ** (attempt - 1);
}

interface Job {
  id: number;
  grant_id: string;
  op: 'apply' | 'revoke';
  attempts: number;
}

export interface WorkerDeps {
  sql: Sql;
  clock: Clock;
  catalog: Catalog;
  connectors: ConnectorSource;
  workerId: string;
}

/**
 * Takes one due outbox job under a lease. FOR UPDATE SKIP LOCKED lets several nodes share one
 * database without two taking the same row; the lease lets a crashed node's job be taken again.
 */
async function lease(d: WorkerDeps): Promise<Job | undefined> {
  const now = d.clock.now();
  return d.sql.transaction(async (tx) => {
    const [job] = await tx.query<Job>(
      `SELECT id, grant_id, op, attempts FROM outbox
        WHERE state = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
          -- One change at a time per grant: a revoke waits for an apply still running on another
          -- node (its row is cancelled but still leased), so the apply cannot land after it.
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.grant_id = outbox.grant_id AND o.id <> outbox.id
                            AND o.lease_owner IS NOT NULL AND o.lease_until >= $1 AND o.state IN ('pending', 'cancelled'))
        ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
      [now],
    );
    if (!job) return undefined;
    await tx.query(
      'UPDATE outbox SET lease_owner = $2, lease_until = $3, attempts = attempts + 1 WHERE id = $1',
      [job.id, d.workerId, addSeconds(now, LEASE_SECONDS)],
    );
    return { ...job, attempts: job.attempts + 1 };
  });
}

async function accessRef(
  d: WorkerDeps,
  g: GrantRow,
): Promise<{ connector: string; ref: AccessRef }> {
  const app = d.catalog.apps.get(g.app);
  // A retired entitlement is out of the catalog but its live grants must still be removable.
  const ent =
    d.catalog.entitlements.get(g.entitlement) ??
    (await d.sql.query('SELECT * FROM entitlements WHERE id = $1', [g.entitlement])).map(
      toEntitlement,
    )[0];
  if (!app || !ent) throw new Error(`${g.entitlement} is no longer in the configuration`);
  const settings = d.catalog.connectors.get(app.connector)?.settings ?? {};
  const attr = typeof settings.account_attribute === 'string' ? settings.account_attribute : '';
  let account = g.identity;
  if (attr) {
    const [row] = await d.sql.query<{ attributes: Record<string, string> }>(
      'SELECT attributes FROM identities WHERE id = $1',
      [g.identity],
    );
    account = row?.attributes?.[attr] || g.identity;
  }
  return { connector: app.connector, ref: { account, target: ent.target } };
}

/** Applies or removes the access, then reads the target back: only a verified change counts. */
async function perform(d: WorkerDeps, job: Job, g: GrantRow): Promise<void> {
  const { connector: name, ref } = await accessRef(d, g);
  const connector = await d.connectors.get(name);
  if (job.op === 'apply') {
    await connector.apply(ref);
    if (!(await connector.readBack(ref)))
      throw new Error(
        `${name} does not show ${ref.account} in ${JSON.stringify(ref.target)} after apply`,
      );
  } else {
    await connector.revoke(ref);
    if (await connector.readBack(ref))
      throw new Error(
        `${name} still shows ${ref.account} in ${JSON.stringify(ref.target)} after revoke`,
      );
  }
}

async function succeed(d: WorkerDeps, job: Job, g: GrantRow): Promise<void> {
  const now = d.clock.now();
  await d.sql.transaction(async (tx) => {
    const mine = await tx.query(
      `UPDATE outbox SET state = 'done', done_at = $3, last_error = NULL WHERE id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING id`,
      [job.id, d.workerId, now],
    );
    if (mine.length === 0) return; // the lease ran out and another node finished it
    const refs = g.request_id ? [g.request_id] : [];
    if (job.op === 'apply') {
      // Duration runs from verified activation, so a slow approval or outage eats none of it.
      const expires = g.duration === null ? null : addSeconds(now, g.duration);
      await tx.query(
        `UPDATE grants SET state = 'active', granted_at = $2, verified_at = $2, expires_at = $3, failure = NULL WHERE id = $1`,
        [g.id, now, expires],
      );
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'grant.activated',
        subject: g.id,
        refs,
        details: {
          verified: true,
          granted_at: now.toISOString(),
          expires_at: expires?.toISOString() ?? null,
          attempts: job.attempts,
        },
      });
    } else {
      const from =
        g.revoke_trigger === 'expiry' && g.expires_at
          ? g.expires_at
          : (g.revoke_requested_at ?? now);
      const latency = Math.max(0, (now.getTime() - from.getTime()) / 1000);
      await tx.query(
        `UPDATE grants SET state = 'revoked', revoked_at = $2, verified_at = $2, revocation_latency_seconds = $3, failure = NULL WHERE id = $1`,
        [g.id, now, latency],
      );
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'grant.revoked',
        subject: g.id,
        refs,
        details: {
          verified_removed: true,
          trigger: g.revoke_trigger,
          revocation_latency_seconds: latency,
          attempts: job.attempts,
        },
      });
    }
  });
}

async function fail(d: WorkerDeps, job: Job, g: GrantRow, error: string): Promise<void> {
  const now = d.clock.now();
  await d.sql.transaction(async (tx) => {
    const final = job.attempts >= MAX_ATTEMPTS;
    const mine = await tx.query(
      `UPDATE outbox SET state = $3, last_error = $4, next_attempt_at = $5, lease_owner = NULL, lease_until = NULL, done_at = $6
        WHERE id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING id`,
      [
        job.id,
        d.workerId,
        final ? 'failed' : 'pending',
        error,
        addSeconds(now, backoffSeconds(job.attempts)),
        final ? now : null,
      ],
    );
    if (mine.length === 0) return;
    const refs = g.request_id ? [g.request_id] : [];
    if (final) {
      await tx.query(`UPDATE grants SET state = 'failed', failure = $2 WHERE id = $1`, [
        g.id,
        `${job.op} failed after ${job.attempts} attempts: ${error}`,
      ]);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'grant.failed',
        subject: g.id,
        refs,
        details: { op: job.op, attempts: job.attempts, error },
      });
    } else {
      await tx.query('UPDATE grants SET failure = $2 WHERE id = $1', [
        g.id,
        `${job.op} attempt ${job.attempts} failed: ${error}`,
      ]);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'provision.retry_scheduled',
        subject: g.id,
        refs,
        details: {
          op: job.op,
          attempt: job.attempts,
          error,
          next_attempt_at: addSeconds(now, backoffSeconds(job.attempts)).toISOString(),
        },
      });
    }
  });
}

/** Runs due outbox jobs until none is left (or `limit` ran); returns how many it ran. */
export async function drainOutbox(
  d: WorkerDeps,
  limit = Infinity,
): Promise<{ done: number; failed: number }> {
  let done = 0;
  let failed = 0;
  while (done + failed < limit) {
    const job = await lease(d);
    if (!job) break;
    const [g] = await d.sql.query<GrantRow>('SELECT * FROM grants WHERE id = $1', [job.grant_id]);
    if (!g) continue;
    try {
      await perform(d, job, g);
      await succeed(d, job, g);
      done++;
    } catch (e) {
      await fail(d, job, g, e instanceof Error ? e.message : String(e));
      failed++;
    }
  }
  return { done, failed };
}
