import { type AuditInput, recordAudit } from '../audit/chain.js';
import { addSeconds } from '../duration.js';
import { newId } from '../ids.js';
import type { Entitlement, GrantTrigger, Identity, RevokeTrigger, Via } from '../model.js';
import { type Sql, prepared } from '../sql.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { cancelIdle } from '../jobs/queue.js';

export interface GrantRow {
  id: string;
  identity: string;
  entitlement: string;
  app: string;
  owner: string;
  request_id: string | null;
  trigger: string;
  emergency: boolean;
  state: string;
  duration: number | null;
  created_at: Date;
  granted_at: Date | null;
  expires_at: Date | null;
  verified_at: Date | null;
  revoke_trigger: string | null;
  revoke_reason: string | null;
  revoke_requested_at: Date | null;
  revoked_at: Date | null;
  revocation_latency_seconds: number | null;
  failure: string | null;
  /** The holder or owner answered a reminder with "let it expire": no more reminders. */
  let_expire: boolean;
  let_expire_by: string | null;
  last_reminder_at: Date | null;
  /** A fulfiller's attestation stands for the read-back (manual connectors, migration 012). */
  attested_by: string | null;
  attested_at: Date | null;
  removal_attested_by: string | null;
}

export async function findGrant(
  sql: Sql,
  id: string,
  forUpdate = false,
): Promise<GrantRow | undefined> {
  const [g] = await sql.query<GrantRow>(
    `SELECT * FROM grants WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return g;
}

export async function requireGrant(sql: Sql, id: string, forUpdate = false): Promise<GrantRow> {
  const g = await findGrant(sql, id, forUpdate);
  if (!g) throw new NotFoundError(`unknown grant "${id}"`, { field: 'id' });
  return g;
}

export const APPLY = 'grant.apply';
export const REVOKE = 'grant.revoke';

const ENQUEUE_ONE =
  prepared(`INSERT INTO jobs (kind, payload, subject, queue, dedupe_key, due_at, created_at)
     SELECT $1, jsonb_build_object('grant_id', $2::text), $2, COALESCE((SELECT connector FROM apps WHERE id = $3), 'default'), $4, $5, $5
     ON CONFLICT (dedupe_key) WHERE state = 'pending' AND dedupe_key IS NOT NULL
     DO UPDATE SET due_at = LEAST(jobs.due_at, EXCLUDED.due_at)`);

/**
 * Queues target work for a grant in the caller's transaction, on its connector's queue (looked up
 * in the same statement). The dedupe key makes a second request for the same change one job.
 */
export async function enqueueGrantJob(
  tx: Sql,
  now: Date,
  grant: { id: string; app: string },
  kind: typeof APPLY | typeof REVOKE,
): Promise<void> {
  await tx.query(ENQUEUE_ONE, [kind, grant.id, grant.app, `${kind}:${grant.id}`, now]);
}

/**
 * enqueueGrantJob for many grants in one statement, in the order given (the jobs' ids follow it,
 * so leasing takes them in that order).
 */
export async function enqueueGrantJobs(
  tx: Sql,
  now: Date,
  grants: readonly { id: string; app: string }[],
  kind: typeof APPLY | typeof REVOKE,
): Promise<void> {
  if (grants.length === 0) return;
  await tx.query(
    `INSERT INTO jobs (kind, payload, subject, queue, dedupe_key, due_at, created_at)
     SELECT $1, jsonb_build_object('grant_id', x.id), x.id, COALESCE(a.connector, 'default'),
            $1 || ':' || x.id, $4, $4
       FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS x(id, app, n)
       LEFT JOIN apps a ON a.id = x.app
      ORDER BY x.n
     ON CONFLICT (dedupe_key) WHERE state = 'pending' AND dedupe_key IS NOT NULL
     DO UPDATE SET due_at = LEAST(jobs.due_at, EXCLUDED.due_at)`,
    [kind, grants.map((g) => g.id), grants.map((g) => g.app), now],
  );
}

/**
 * The grant and its apply job (as enqueueGrantJob writes it) as a statement's CTEs, from
 * `$first` on the ten values grantValues gives. After a CTE `r` of the request inserted in the same
 * statement (`afterRequest`), the grant goes in only when the request did.
 */
export function grantCtes(first: number, afterRequest = false): string {
  const p = (i: number) => `$${first + i}`;
  return grantInsertCtes(`SELECT ${p(0)}::text, ${p(1)}::text, ${p(2)}::text, ${p(3)}::text, ${p(4)}::text, ${p(5)}::text, ${p(6)}::text,
              ${p(7)}::boolean, 'provisioning', ${p(8)}::integer, ${p(9)}::timestamptz
       ${afterRequest ? 'FROM r' : ''}`);
}

/**
 * grantCtes for many grants: `$param` a JSON array of them (grantsJson). After a CTE `r` of
 * requests inserted in the same statement, a grant goes in only when its request did.
 */
export function grantsCtes(param: number): string {
  return grantInsertCtes(`SELECT y.id, y.identity, y.entitlement, y.app, y.owner, y.request_id, y.trigger, y.emergency,
              'provisioning', y.duration, y.created_at
         FROM jsonb_to_recordset($${param}::jsonb)
                AS y(id text, identity text, entitlement text, app text, owner text, request_id text, trigger text,
                     emergency boolean, duration integer, created_at timestamptz)
        WHERE y.request_id IN (SELECT id FROM r)`);
}

const GRANT_COLUMNS = [
  'id',
  'identity',
  'entitlement',
  'app',
  'owner',
  'request_id',
  'trigger',
  'emergency',
  'duration',
  'created_at',
] as const;

/** grantValues' values of several grants as grantsCtes' parameter. */
export function grantsJson(values: readonly unknown[][]): string {
  return JSON.stringify(
    values.map((v) => Object.fromEntries(GRANT_COLUMNS.map((c, i) => [c, v[i]]))),
  );
}

/** The grants `rows` select (grantValues' ten columns) and an apply job for each. */
function grantInsertCtes(rows: string): string {
  return `g AS (
       INSERT INTO grants (id, identity, entitlement, app, owner, request_id, trigger, emergency, state, duration, created_at)
       ${rows}
       RETURNING id, app, created_at),
     apply AS (
       INSERT INTO jobs (kind, payload, subject, queue, dedupe_key, due_at, created_at)
       SELECT '${APPLY}', jsonb_build_object('grant_id', g.id), g.id,
              COALESCE((SELECT connector FROM apps WHERE id = g.app), 'default'), '${APPLY}:' || g.id,
              g.created_at, g.created_at
         FROM g
       ON CONFLICT (dedupe_key) WHERE state = 'pending' AND dedupe_key IS NOT NULL
       DO UPDATE SET due_at = LEAST(jobs.due_at, EXCLUDED.due_at)
       RETURNING 1)`;
}

/** What a new grant is made of: an approved request's, or a birthright's. */
export interface NewGrant {
  identity: Identity;
  entitlement: Entitlement;
  requestId: string | null;
  trigger: GrantTrigger;
  emergency: boolean;
  duration: number | null;
}

/** grantCtes' ten values for the grant `id`, and its `grant.created` event. */
export function grantValues(
  id: string,
  now: Date,
  actor: string,
  g: NewGrant,
): { id: string; values: unknown[]; created: AuditInput } {
  // The accountable owner: a non-human identity's owner, else the person holding it.
  const owner = g.identity.kind === 'human' ? g.identity.id : g.identity.owner;
  return {
    id,
    values: [
      id,
      g.identity.id,
      g.entitlement.id,
      g.entitlement.app,
      owner,
      g.requestId,
      g.trigger,
      g.emergency,
      g.duration,
      now,
    ],
    created: {
      actor,
      action: 'grant.created',
      subject: id,
      refs: g.requestId ? [g.requestId] : [],
      details: {
        identity: g.identity.id,
        entitlement: g.entitlement.id,
        trigger: g.trigger,
        emergency: g.emergency,
        duration_seconds: g.duration,
        state: 'provisioning',
      },
    },
  };
}

const INSERT_GRANT_AND_APPLY = prepared(`WITH ${grantCtes(1)} SELECT 1`);

/**
 * An approved request becomes a grant in `provisioning`, and the intent to provision is written in
 * the same transaction (a job on the queue): a crash between approval and target loses nothing.
 */
export async function createGrant(tx: Sql, now: Date, actor: string, g: NewGrant): Promise<string> {
  const id = newId('grt');
  const { values, created } = grantValues(id, now, actor, g);
  await tx.query(INSERT_GRANT_AND_APPLY, values);
  await recordAudit(tx, now, created);
  return id;
}

/**
 * Starts revocation: the grant goes to `revoking` and a revoke job is queued. An apply no worker
 * holds is cancelled; an apply in flight is left to finish and the revoke runs right after it, so
 * the audit trail shows the access that existed in between. Revoking a grant already being
 * revoked brings its revocation forward and keeps when it was first due: a breach stays a breach.
 */
export async function startRevocation(
  tx: Sql,
  now: Date,
  actor: string,
  grantId: string,
  trigger: RevokeTrigger,
  reason: string,
  /** How the actor was established, for revocations an actor asked for. */
  via?: Via,
): Promise<void> {
  const g = await requireGrant(tx, grantId, true);
  const refs = g.request_id ? [g.request_id] : [];
  if (g.state === 'revoke_failed') {
    await enqueueGrantJob(tx, now, g, REVOKE);
    await recordAudit(tx, now, {
      actor,
      action: 'grant.revoke_requested',
      subject: grantId,
      refs,
      details: {
        trigger,
        reason,
        again: true,
        first_requested_at: g.revoke_requested_at?.toISOString() ?? null,
      },
    });
    return;
  }
  if (!['active', 'provisioning', 'failed'].includes(g.state)) {
    throw new ConflictError(
      `grant ${grantId} is ${g.state}; only active, provisioning, failed or revoke_failed grants can be revoked`,
      { code: 'grant_not_revocable' },
    );
  }
  await cancelIdle(tx, grantId, [APPLY], now);
  await tx.query(
    `UPDATE grants SET state = 'revoking', revoke_trigger = $2, revoke_reason = $3, revoke_requested_at = $4, failure = NULL WHERE id = $1`,
    [grantId, trigger, reason, now],
  );
  await enqueueGrantJob(tx, now, g, REVOKE);
  await recordAudit(tx, now, {
    actor,
    action: trigger === 'expiry' ? 'grant.expired' : 'grant.revoke_requested',
    subject: grantId,
    refs,
    details: {
      identity: g.identity,
      entitlement: g.entitlement,
      trigger,
      reason,
      expires_at: g.expires_at?.toISOString() ?? null,
      ...(via ? { via } : {}),
    },
  });
}

/** Moves an active grant's expiry (an approved extension): no second grant, no re-provisioning. */
export async function extendGrant(
  tx: Sql,
  now: Date,
  actor: string,
  grantId: string,
  seconds: number,
  requestId: string,
): Promise<Date> {
  const g = await requireGrant(tx, grantId, true);
  // The grant may have expired or been revoked while its extension waited for approval.
  if (g.state !== 'active')
    throw new InputError(`grant ${grantId} is ${g.state}; its extension can no longer be approved`);
  const from = g.expires_at ?? now;
  const expires = addSeconds(from, seconds);
  // "Let it expire" answered the old expiry; whoever extends wants reminders for the new one.
  await tx.query(
    'UPDATE grants SET expires_at = $2, let_expire = false, let_expire_by = NULL WHERE id = $1',
    [grantId, expires],
  );
  await recordAudit(tx, now, {
    actor,
    action: 'grant.extended',
    subject: grantId,
    refs: [requestId],
    details: {
      from: from.toISOString(),
      to: expires.toISOString(),
      request: requestId,
      ...(g.let_expire ? { let_expire_cleared: true } : {}),
    },
  });
  return expires;
}
