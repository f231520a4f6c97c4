import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../clock.js';
import type { AccessRef, ConnectorSource } from '../ports/connector.js';
import { addSeconds } from '../duration.js';
import type { Sql } from '../sql.js';
import { APPLY, REVOKE, type GrantRow } from './grants.js';
import { TargetError } from '../errors.js';
import { accountRefusal, governedTargets, sharersQuery } from './account-guard.js';
import type { Job } from '../jobs/queue.js';
import type { Failure, JobHandler } from '../jobs/runtime.js';
import { toEntitlement } from '../catalog/rows.js';

/** An apply gives up after this many attempts; a revocation never does (see REVOKE_RETRY). */
export const MAX_ATTEMPTS = 5;

/** 30 s, 2 min, 8 min, 32 min: a target outage of an hour still ends in `active`. */
export function backoffSeconds(attempt: number): number {
  return 30 * 4 ** (attempt - 1);
}

/** Access may still be in the target: keep trying, at least every half hour, until verified. */
const REVOKE_BACKOFF_CAP = 1800;

export interface WorkerDeps {
  sql: Sql;
  clock: Clock;
  catalog: Catalog;
  connectors: ConnectorSource;
  workerId: string;
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
  if (!app || !ent) throw new TargetError(`${g.entitlement} is no longer in the configuration`);
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

async function grantOf(d: WorkerDeps, job: Job, forUpdate = false, tx: Sql = d.sql) {
  const id = String(job.payload.grant_id ?? job.subject);
  const [g] = await tx.query<GrantRow>(
    `SELECT * FROM grants WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  if (!g) throw new TargetError(`grant ${id} does not exist`, { retryable: false });
  return g;
}

/**
 * An account that is itself a governed role, or that another identity maps to, would pass this
 * grant on to people Gatehouse never decided for: refuse it, permanently, before the target sees it.
 */
async function refuseSharedAccount(
  d: WorkerDeps,
  g: GrantRow,
  connector: string,
  account: string,
): Promise<void> {
  const q = sharersQuery(account, d.catalog.connectors.get(connector));
  const refusal = accountRefusal({
    identity: g.identity,
    account,
    connector,
    governed: governedTargets(connector, d.catalog.apps.values(), d.catalog.entitlements.values()),
    sharers: (await d.sql.query<{ id: string }>(q.text, q.params)).map((r) => r.id),
  });
  if (refusal) throw new TargetError(refusal, { code: 'account_conflict', retryable: false });
}

/** Applies the access, then reads the target back: only a verified change counts. */
async function performApply(d: WorkerDeps, job: Job): Promise<void> {
  const g = await grantOf(d, job);
  const { connector: name, ref } = await accessRef(d, g);
  await refuseSharedAccount(d, g, name, ref.account);
  const connector = await d.connectors.get(name);
  await connector.apply(ref);
  if (!(await connector.readBack(ref)))
    throw new Error(
      `${name} does not show ${ref.account} in ${JSON.stringify(ref.target)} after apply`,
    );
}

async function performRevoke(d: WorkerDeps, job: Job): Promise<void> {
  const g = await grantOf(d, job);
  const { connector: name, ref } = await accessRef(d, g);
  const connector = await d.connectors.get(name);
  await connector.revoke(ref);
  if (await connector.readBack(ref))
    throw new Error(
      `${name} still shows ${ref.account} in ${JSON.stringify(ref.target)} after revoke`,
    );
}

const refsOf = (g: GrantRow) => (g.request_id ? [g.request_id] : []);

async function applied(d: WorkerDeps, tx: Sql, job: Job, now: Date): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  if (g.state !== 'provisioning') {
    // Revoked while the apply was in flight: the access existed from now until the revoke that
    // runs next verifies its removal. Recorded, so the trail shows that window.
    await tx.query('UPDATE grants SET granted_at = $2, verified_at = $2 WHERE id = $1', [
      g.id,
      now,
    ]);
    await appendAudit(tx, now, {
      actor: d.workerId,
      action: 'grant.applied',
      subject: g.id,
      refs: refsOf(g),
      details: {
        verified: true,
        applied_at: now.toISOString(),
        state: g.state,
        attempts: job.attempts,
      },
    });
    return;
  }
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
    refs: refsOf(g),
    details: {
      verified: true,
      granted_at: now.toISOString(),
      expires_at: expires?.toISOString() ?? null,
      attempts: job.attempts,
    },
  });
}

/** When removal was due: the expiry for an expiring grant, else when revocation was asked for. */
export function removalDueAt(g: GrantRow, now: Date): Date {
  return g.revoke_trigger === 'expiry' && g.expires_at
    ? g.expires_at
    : (g.revoke_requested_at ?? now);
}

async function revoked(d: WorkerDeps, tx: Sql, job: Job, now: Date): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  // From due to verified, whatever happened between (retries, revoke_failed): nothing erases a breach.
  const latency = Math.max(0, (now.getTime() - removalDueAt(g, now).getTime()) / 1000);
  await tx.query(
    `UPDATE grants SET state = 'revoked', revoked_at = $2, verified_at = $2, revocation_latency_seconds = $3, failure = NULL WHERE id = $1`,
    [g.id, now, latency],
  );
  await appendAudit(tx, now, {
    actor: d.workerId,
    action: 'grant.revoked',
    subject: g.id,
    refs: refsOf(g),
    details: {
      verified_removed: true,
      trigger: g.revoke_trigger,
      applied_at: g.granted_at?.toISOString() ?? null,
      revoked_at: now.toISOString(),
      revocation_latency_seconds: latency,
      attempts: job.attempts,
      ...(g.state === 'revoke_failed' ? { after_revoke_failed: true } : {}),
    },
  });
}

async function applyFailed(d: WorkerDeps, tx: Sql, job: Job, now: Date, f: Failure): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  if (f.final && g.state === 'provisioning') {
    const why = f.permanent
      ? `apply failed and will not be retried: ${f.error}`
      : `apply failed after ${f.attempts} attempts: ${f.error}`;
    await tx.query(`UPDATE grants SET state = 'failed', failure = $2 WHERE id = $1`, [g.id, why]);
    await appendAudit(tx, now, {
      actor: d.workerId,
      action: 'grant.failed',
      subject: g.id,
      refs: refsOf(g),
      details: { op: 'apply', attempts: f.attempts, error: f.error, permanent: f.permanent },
    });
    return;
  }
  if (g.state === 'provisioning')
    await tx.query('UPDATE grants SET failure = $2 WHERE id = $1', [
      g.id,
      `apply attempt ${f.attempts} failed: ${f.error}`,
    ]);
  await appendAudit(tx, now, {
    actor: d.workerId,
    action: f.final ? 'provision.abandoned' : 'provision.retry_scheduled',
    subject: g.id,
    refs: refsOf(g),
    details: {
      op: 'apply',
      attempt: f.attempts,
      error: f.error,
      next_attempt_at: f.nextAt?.toISOString() ?? null,
    },
  });
}

async function revokeFailed(
  d: WorkerDeps,
  tx: Sql,
  job: Job,
  now: Date,
  f: Failure,
): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  const givingUp = f.permanent || f.attempts >= MAX_ATTEMPTS;
  if (givingUp && g.state === 'revoking') {
    // Not `failed`: the access may still be there. The job keeps retrying until removal is verified.
    await tx.query(`UPDATE grants SET state = 'revoke_failed', failure = $2 WHERE id = $1`, [
      g.id,
      `revoke failed ${f.attempts} times, still retrying: ${f.error}`,
    ]);
    await appendAudit(tx, now, {
      actor: d.workerId,
      action: 'grant.revoke_failed',
      subject: g.id,
      refs: refsOf(g),
      details: {
        attempts: f.attempts,
        error: f.error,
        permanent: f.permanent,
        next_attempt_at: f.nextAt?.toISOString() ?? null,
      },
    });
    return;
  }
  await tx.query('UPDATE grants SET failure = $2 WHERE id = $1', [
    g.id,
    g.state === 'revoke_failed'
      ? `revoke failed ${f.attempts} times, still retrying: ${f.error}`
      : `revoke attempt ${f.attempts} failed: ${f.error}`,
  ]);
  await appendAudit(tx, now, {
    actor: d.workerId,
    action: 'provision.retry_scheduled',
    subject: g.id,
    refs: refsOf(g),
    details: {
      op: 'revoke',
      attempt: f.attempts,
      error: f.error,
      next_attempt_at: f.nextAt?.toISOString() ?? null,
    },
  });
}

/** Grant rows of a batch of outcomes, locked in id order before any outcome is written. */
async function lockGrants(tx: Sql, ids: string[]): Promise<void> {
  await tx.query('SELECT id FROM grants WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [ids]);
}

/** The job kinds of grant provisioning: apply and revoke, each verified by reading back. */
export function grantHandlers(d: WorkerDeps): JobHandler[] {
  const apply: JobHandler<void> = {
    kind: APPLY,
    retry: { maxAttempts: MAX_ATTEMPTS, backoffSeconds },
    perform: (job) => performApply(d, job),
    succeeded: (tx, job, now) => applied(d, tx, job, now),
    failed: (tx, job, now, f) => applyFailed(d, tx, job, now, f),
    lockSubjects: lockGrants,
  };
  const revoke: JobHandler<void> = {
    kind: REVOKE,
    retry: {
      maxAttempts: Infinity,
      backoffSeconds: (n) => Math.min(REVOKE_BACKOFF_CAP, backoffSeconds(n)),
    },
    perform: (job) => performRevoke(d, job),
    succeeded: (tx, job, now) => revoked(d, tx, job, now),
    failed: (tx, job, now, f) => revokeFailed(d, tx, job, now, f),
    lockSubjects: lockGrants,
  };
  return [apply as JobHandler, revoke as JobHandler];
}
