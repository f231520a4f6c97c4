import { type AuditBatchInput, recordAudit, recordAuditMany } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../clock.js';
import {
  type AccessRef,
  type ApplyResult,
  type ConnectorSource,
  type Pending,
  type Settled,
  applyEach,
  readBackEach,
  revokeEach,
} from '../ports/connector.js';
import { addSeconds } from '../duration.js';
import type { Sql } from '../sql.js';
import { APPLY, REVOKE, type GrantRow } from './grants.js';
import { TargetError } from '../errors.js';
import { accountRefusal, governedTargets } from './account-guard.js';
import type { Job } from '../jobs/queue.js';
import type { Failure, JobHandler } from '../jobs/runtime.js';
import { toEntitlement } from '../catalog/rows.js';
import { openTask } from '../tasks/tasks.js';

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

/** The connector's account attribute of a grant's app ('' when accounts are identity ids). */
function accountAttribute(d: WorkerDeps, g: GrantRow): string {
  const app = d.catalog.apps.get(g.app);
  const settings = (app && d.catalog.connectors.get(app.connector)?.settings) || {};
  return typeof settings.account_attribute === 'string' ? settings.account_attribute : '';
}

async function accessRef(
  d: WorkerDeps,
  g: GrantRow,
  /** The identities' attributes, read for a whole batch; read here when absent. */
  attributes?: ReadonlyMap<string, Record<string, string>>,
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
    const known = attributes?.get(g.identity);
    const row =
      known !== undefined
        ? { attributes: known }
        : (
            await d.sql.query<{ attributes: Record<string, string> }>(
              'SELECT attributes FROM identities WHERE id = $1',
              [g.identity],
            )
          )[0];
    account = row?.attributes?.[attr] || g.identity;
  }
  return { connector: app.connector, ref: { account, target: ent.target } };
}

const grantIdOf = (job: Job) => String(job.payload.grant_id ?? job.subject);

async function grantOf(d: WorkerDeps, job: Job, forUpdate = false, tx: Sql = d.sql) {
  const id = grantIdOf(job);
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
 * One answer per item, for a batch of one connector: without an account attribute an account is
 * its identity's id, which no other identity shares, so only the governed-role check applies and
 * the store is not asked; with one, every account of the batch is looked up in one statement.
 */
async function sharedAccountRefusals(
  d: WorkerDeps,
  connector: string,
  items: readonly { identity: string; account: string }[],
): Promise<(string | undefined)[]> {
  const governed = governedTargets(
    connector,
    d.catalog.apps.values(),
    d.catalog.entitlements.values(),
  );
  const config = d.catalog.connectors.get(connector);
  const attr = config?.settings.account_attribute;
  const sharers = new Map<string, string[]>();
  if (typeof attr === 'string' && attr !== '') {
    const accounts = [...new Set(items.map((i) => i.account))];
    const rows = await d.sql.query<{ account: string; id: string }>(
      `SELECT COALESCE(NULLIF(attributes->>$2, ''), id) AS account, id FROM identities
        WHERE COALESCE(NULLIF(attributes->>$2, ''), id) = ANY($1::text[]) ORDER BY id`,
      [accounts, attr],
    );
    for (const r of rows) sharers.set(r.account, [...(sharers.get(r.account) ?? []), r.id]);
  }
  return items.map((i) =>
    accountRefusal({
      identity: i.identity,
      account: i.account,
      connector,
      governed,
      sharers: sharers.get(i.account) ?? [],
    }),
  );
}

async function refuseSharedAccount(
  d: WorkerDeps,
  g: GrantRow,
  connector: string,
  account: string,
): Promise<void> {
  const [refusal] = await sharedAccountRefusals(d, connector, [{ identity: g.identity, account }]);
  if (refusal) throw new TargetError(refusal, { code: 'account_conflict', retryable: false });
}

/**
 * A change the target accepted but people (or a remote workflow) complete later: its job is done
 * and a fulfilment task stands in for it (core/tasks), so nothing retries it.
 */
export interface PendingChange {
  pending: Pending;
  connector: string;
  ref: AccessRef;
}

/** What a grant job's work answers: nothing (done and verified by read-back), or pending. */
export type ChangeOutcome = PendingChange | undefined;

const isPending = (r: ApplyResult): r is Pending =>
  typeof r === 'object' && r !== null && r.pending === true;

interface Work {
  /** Index in the batch. */
  i: number;
  grant: GrantRow;
  connector: string;
  ref: AccessRef;
}

/**
 * The grants and access refs of a batch of jobs in two statements (grants, and identities'
 * attributes where a connector maps accounts by one). A job whose grant or mapping is gone fails
 * alone, with the error the single path gives.
 */
async function workOf(d: WorkerDeps, jobs: Job[], out: Settled<ChangeOutcome>[]): Promise<Work[]> {
  const ids = jobs.map(grantIdOf);
  const rows = await d.sql.query<GrantRow>('SELECT * FROM grants WHERE id = ANY($1::text[])', [
    [...new Set(ids)],
  ]);
  const byId = new Map(rows.map((g) => [g.id, g]));
  const mapped = [
    ...new Set(rows.filter((g) => accountAttribute(d, g) !== '').map((g) => g.identity)),
  ];
  const attributes = new Map<string, Record<string, string>>();
  if (mapped.length > 0)
    for (const r of await d.sql.query<{ id: string; attributes: Record<string, string> }>(
      'SELECT id, attributes FROM identities WHERE id = ANY($1::text[])',
      [mapped],
    ))
      attributes.set(r.id, r.attributes ?? {});
  const work: Work[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const g = byId.get(ids[i]!);
    if (!g) {
      out[i] = {
        ok: false,
        error: new TargetError(`grant ${ids[i]} does not exist`, { retryable: false }),
      };
      continue;
    }
    try {
      const { connector, ref } = await accessRef(d, g, attributes);
      work.push({ i, grant: g, connector, ref });
    } catch (error) {
      out[i] = { ok: false, error };
    }
  }
  return work;
}

function byConnector(work: Work[]): Map<string, Work[]> {
  const m = new Map<string, Work[]>();
  for (const w of work) m.set(w.connector, [...(m.get(w.connector) ?? []), w]);
  return m;
}

/**
 * performApply for a batch of jobs of one connector: one look-up of the grants, one guard query
 * at most, and the target's batch calls (one round trip each on postgres), each job's outcome
 * its own.
 */
async function performApplyMany(d: WorkerDeps, jobs: Job[]): Promise<Settled<ChangeOutcome>[]> {
  const out: Settled<ChangeOutcome>[] = new Array(jobs.length);
  for (const [name, list] of byConnector(await workOf(d, jobs, out))) {
    const refusals = await sharedAccountRefusals(
      d,
      name,
      list.map((w) => ({ identity: w.grant.identity, account: w.ref.account })),
    );
    const go: Work[] = [];
    list.forEach((w, k) => {
      const refusal = refusals[k];
      if (refusal)
        out[w.i] = {
          ok: false,
          error: new TargetError(refusal, { code: 'account_conflict', retryable: false }),
        };
      else go.push(w);
    });
    if (go.length === 0) continue;
    await settleOnTarget(d, name, go, out, 'apply');
  }
  return out;
}

async function performRevokeMany(d: WorkerDeps, jobs: Job[]): Promise<Settled<ChangeOutcome>[]> {
  const out: Settled<ChangeOutcome>[] = new Array(jobs.length);
  for (const [name, list] of byConnector(await workOf(d, jobs, out)))
    await settleOnTarget(d, name, list, out, 'revoke');
  return out;
}

/**
 * The change, then the read-back, each one batch call: only a verified change counts. A change
 * the target answered pending is not read back: its task stands in for it.
 */
async function settleOnTarget(
  d: WorkerDeps,
  name: string,
  work: Work[],
  out: Settled<ChangeOutcome>[],
  op: 'apply' | 'revoke',
): Promise<void> {
  let connector;
  try {
    connector = await d.connectors.get(name);
  } catch (error) {
    for (const w of work) out[w.i] = { ok: false, error };
    return;
  }
  const refs = work.map((w) => w.ref);
  const changed = await (op === 'apply' ? applyEach(connector, refs) : revokeEach(connector, refs));
  const check: Work[] = [];
  changed.forEach((c, k) => {
    const w = work[k]!;
    if (!c.ok) out[w.i] = c;
    else if (isPending(c.value))
      out[w.i] = { ok: true, value: { pending: c.value, connector: name, ref: w.ref } };
    else check.push(w);
  });
  if (check.length === 0) return;
  const back = await readBackEach(
    connector,
    check.map((w) => w.ref),
  );
  back.forEach((b, k) => {
    const w = check[k]!;
    const what = `${w.ref.account} in ${JSON.stringify(w.ref.target)}`;
    if (!b.ok) out[w.i] = b;
    else if (op === 'apply' && !b.value)
      out[w.i] = { ok: false, error: new Error(`${name} does not show ${what} after apply`) };
    else if (op === 'revoke' && b.value)
      out[w.i] = { ok: false, error: new Error(`${name} still shows ${what} after revoke`) };
    else out[w.i] = { ok: true, value: undefined };
  });
}

/** Applies the access, then reads the target back: only a verified change counts. */
async function performApply(d: WorkerDeps, job: Job): Promise<ChangeOutcome> {
  const g = await grantOf(d, job);
  const { connector: name, ref } = await accessRef(d, g);
  await refuseSharedAccount(d, g, name, ref.account);
  const connector = await d.connectors.get(name);
  const result = await connector.apply(ref);
  if (isPending(result)) return { pending: result, connector: name, ref };
  if (!(await connector.readBack(ref)))
    throw new Error(
      `${name} does not show ${ref.account} in ${JSON.stringify(ref.target)} after apply`,
    );
  return undefined;
}

async function performRevoke(d: WorkerDeps, job: Job): Promise<ChangeOutcome> {
  const g = await grantOf(d, job);
  const { connector: name, ref } = await accessRef(d, g);
  const connector = await d.connectors.get(name);
  const result = await connector.revoke(ref);
  if (isPending(result)) return { pending: result, connector: name, ref };
  if (await connector.readBack(ref))
    throw new Error(
      `${name} still shows ${ref.account} in ${JSON.stringify(ref.target)} after revoke`,
    );
  return undefined;
}

/**
 * The target took the change and people complete it: the job is done, a fulfilment task is
 * opened in the same transaction, and the grant keeps its state (provisioning, revoking) until a
 * fulfiller attests the change (core/tasks/fulfil.ts).
 */
async function pendingRecorded(
  d: WorkerDeps,
  tx: Sql,
  job: Job,
  now: Date,
  op: 'apply' | 'revoke',
  change: PendingChange,
): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  // An apply whose grant was revoked meanwhile needs no task: the revoke that follows opens one.
  if (op === 'apply' && g.state !== 'provisioning') return;
  await openTask(tx, now, d.workerId, {
    grant: g,
    op,
    connector: change.connector,
    ref: change.ref,
    pending: change.pending,
    fallbackGroup: d.catalog.settings.fallbackGroup,
  });
}

/** A batch's outcomes: pending ones open tasks one by one, the others go set-based. */
async function recordMany(
  d: WorkerDeps,
  tx: Sql,
  done: { job: Job; now: Date; result: ChangeOutcome }[],
  op: 'apply' | 'revoke',
  many: (d: WorkerDeps, tx: Sql, done: { job: Job; now: Date }[]) => Promise<void>,
): Promise<void> {
  const verified = done.filter((x) => x.result === undefined);
  for (const x of done)
    if (x.result !== undefined) await pendingRecorded(d, tx, x.job, x.now, op, x.result);
  if (verified.length > 0) await many(d, tx, verified);
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
    await recordAudit(tx, now, {
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
  await recordAudit(tx, now, {
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

/**
 * applied() for a batch, set-based: one UPDATE for every grant still provisioning and their
 * `grant.activated` events appended together. A grant revoked while its apply was in flight goes
 * through applied() itself (rare).
 */
async function appliedMany(d: WorkerDeps, tx: Sql, done: { job: Job; now: Date }[]): Promise<void> {
  const rows = await tx.query<GrantRow>(
    'SELECT * FROM grants WHERE id = ANY($1::text[]) FOR UPDATE',
    [done.map((x) => grantIdOf(x.job))],
  );
  const byId = new Map(rows.map((g) => [g.id, g]));
  const active: { id: string; at: Date; expires: Date | null }[] = [];
  const events: AuditBatchInput[] = [];
  for (const { job, now } of done) {
    const g = byId.get(grantIdOf(job));
    if (!g || g.state !== 'provisioning') {
      await applied(d, tx, job, now);
      continue;
    }
    // Duration runs from verified activation, so a slow approval or outage eats none of it.
    const expires = g.duration === null ? null : addSeconds(now, g.duration);
    active.push({ id: g.id, at: now, expires });
    events.push({
      at: now,
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
  if (active.length === 0) return;
  await tx.query(
    `UPDATE grants g SET state = 'active', granted_at = x.at, verified_at = x.at, expires_at = x.expires, failure = NULL
       FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS x(id, at, expires)
      WHERE g.id = x.id`,
    [active.map((a) => a.id), active.map((a) => a.at), active.map((a) => a.expires)],
  );
  await recordAuditMany(tx, done[0]!.now, events);
}

/** revoked() for a batch, set-based: one UPDATE, the `grant.revoked` events appended together. */
async function revokedMany(d: WorkerDeps, tx: Sql, done: { job: Job; now: Date }[]): Promise<void> {
  const rows = await tx.query<GrantRow>(
    'SELECT * FROM grants WHERE id = ANY($1::text[]) FOR UPDATE',
    [done.map((x) => grantIdOf(x.job))],
  );
  const byId = new Map(rows.map((g) => [g.id, g]));
  const gone: { id: string; at: Date; latency: number }[] = [];
  const events: AuditBatchInput[] = [];
  for (const { job, now } of done) {
    const g = byId.get(grantIdOf(job));
    if (!g) {
      await revoked(d, tx, job, now); // throws as the single path does
      continue;
    }
    const latency = revocationLatency(g, now);
    gone.push({ id: g.id, at: now, latency });
    events.push({
      at: now,
      actor: d.workerId,
      action: 'grant.revoked',
      subject: g.id,
      refs: refsOf(g),
      details: revokedDetails(g, job, now, latency),
    });
  }
  if (gone.length === 0) return;
  await tx.query(
    `UPDATE grants g SET state = 'revoked', revoked_at = x.at, verified_at = x.at, revocation_latency_seconds = x.latency, failure = NULL
       FROM unnest($1::text[], $2::timestamptz[], $3::float8[]) AS x(id, at, latency)
      WHERE g.id = x.id`,
    [gone.map((a) => a.id), gone.map((a) => a.at), gone.map((a) => a.latency)],
  );
  await recordAuditMany(tx, done[0]!.now, events);
}

function revokedDetails(g: GrantRow, job: Job, now: Date, latency: number) {
  return {
    verified_removed: true,
    trigger: g.revoke_trigger,
    applied_at: g.granted_at?.toISOString() ?? null,
    revoked_at: now.toISOString(),
    revocation_latency_seconds: latency,
    attempts: job.attempts,
    ...(g.state === 'revoke_failed' ? { after_revoke_failed: true } : {}),
  };
}

/** When removal was due: the expiry for an expiring grant, else when revocation was asked for. */
export function removalDueAt(g: GrantRow, now: Date): Date {
  return g.revoke_trigger === 'expiry' && g.expires_at
    ? g.expires_at
    : (g.revoke_requested_at ?? now);
}

/**
 * Seconds from when removal was due to `now`, when it was verified or attested, whatever happened
 * between (retries, revoke_failed): nothing erases a breach.
 */
export function revocationLatency(g: GrantRow, now: Date): number {
  return Math.max(0, (now.getTime() - removalDueAt(g, now).getTime()) / 1000);
}

async function revoked(d: WorkerDeps, tx: Sql, job: Job, now: Date): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  const latency = revocationLatency(g, now);
  await tx.query(
    `UPDATE grants SET state = 'revoked', revoked_at = $2, verified_at = $2, revocation_latency_seconds = $3, failure = NULL WHERE id = $1`,
    [g.id, now, latency],
  );
  await recordAudit(tx, now, {
    actor: d.workerId,
    action: 'grant.revoked',
    subject: g.id,
    refs: refsOf(g),
    details: revokedDetails(g, job, now, latency),
  });
}

async function applyFailed(d: WorkerDeps, tx: Sql, job: Job, now: Date, f: Failure): Promise<void> {
  const g = await grantOf(d, job, true, tx);
  if (f.final && g.state === 'provisioning') {
    const why = f.permanent
      ? `apply failed and will not be retried: ${f.error}`
      : `apply failed after ${f.attempts} attempts: ${f.error}`;
    await tx.query(`UPDATE grants SET state = 'failed', failure = $2 WHERE id = $1`, [g.id, why]);
    await recordAudit(tx, now, {
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
  await recordAudit(tx, now, {
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
    await recordAudit(tx, now, {
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
  await recordAudit(tx, now, {
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
  const apply: JobHandler<ChangeOutcome> = {
    kind: APPLY,
    retry: { maxAttempts: MAX_ATTEMPTS, backoffSeconds },
    perform: (job) => performApply(d, job),
    performMany: (jobs) => performApplyMany(d, jobs),
    succeeded: (tx, job, now, result) =>
      result ? pendingRecorded(d, tx, job, now, 'apply', result) : applied(d, tx, job, now),
    succeededMany: (tx, done) => recordMany(d, tx, done, 'apply', appliedMany),
    failed: (tx, job, now, f) => applyFailed(d, tx, job, now, f),
    lockSubjects: lockGrants,
  };
  const revoke: JobHandler<ChangeOutcome> = {
    kind: REVOKE,
    retry: {
      maxAttempts: Infinity,
      backoffSeconds: (n) => Math.min(REVOKE_BACKOFF_CAP, backoffSeconds(n)),
    },
    perform: (job) => performRevoke(d, job),
    performMany: (jobs) => performRevokeMany(d, jobs),
    succeeded: (tx, job, now, result) =>
      result ? pendingRecorded(d, tx, job, now, 'revoke', result) : revoked(d, tx, job, now),
    succeededMany: (tx, done) => recordMany(d, tx, done, 'revoke', revokedMany),
    failed: (tx, job, now, f) => revokeFailed(d, tx, job, now, f),
    lockSubjects: lockGrants,
  };
  return [apply as JobHandler, revoke as JobHandler];
}
