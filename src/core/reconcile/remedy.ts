import { appendAuditMany, type AuditBatchInput } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { addSeconds } from '../duration.js';
import { APPLY, REVOKE, enqueueGrantJob, startRevocation } from '../grants/grants.js';
import { newId } from '../ids.js';
import { enqueue } from '../jobs/queue.js';
import { targetKey } from '../ports/connector.js';
import { openReviewItem } from '../reviews/items.js';
import type { Sql } from '../sql.js';
import type { Finding } from './classify.js';
import { REMOVE, type RemovalPayload } from './remove.js';
import type { Mode } from './settings.js';

export type Action = 'reported' | 'remediated' | 'adopted';

/** An adopted grant runs this long when its entitlement sets no duration of its own. */
export const ADOPT_DEFAULT_SECONDS = 30 * 86400;
/** Someone decides on adopted access within this. */
export const ADOPT_REVIEW_SECONDS = 7 * 86400;

export interface RunRef {
  id: string;
  connector: string;
  actor: string;
  /** The entitlements of the finding's target. */
  entitlements: string[];
}

export interface Recorded {
  id: string;
  action: Action;
  /** The grant adopted, or the grant the remediation acts on. */
  grant: string | null;
}

const LIVE = ['provisioning', 'active', 'revoking', 'revoke_failed'];

/**
 * Records one finding and handles it by the connector's mode, in one transaction with its audit
 * events and any job it implies (a grant's apply or revoke, or the removal of unmanaged access).
 * The grant is read again under its lock: if its state moved since the merge read it (a worker
 * activated it, a revocation started), the finding is stale and nothing is written (null).
 */
export async function recordFinding(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  run: RunRef,
  seq: number,
  f: Finding,
  mode: Mode,
): Promise<Recorded | null> {
  return sql.transaction(async (tx) => {
    if (f.grant) {
      const [row] = await tx.query<{ state: string }>(
        'SELECT state FROM grants WHERE id = $1 FOR UPDATE',
        [f.grant.id],
      );
      if (row?.state !== f.grant.state) return null;
    }
    const id = newId('fnd');
    const events: AuditBatchInput[] = [];
    let action: Action = 'reported';
    let grant = f.grant?.id ?? null;
    let how: string | undefined;
    if (mode === 'adopt' && f.kind === 'unmanaged' && f.identity && f.entitlement) {
      const adopted = await adopt(tx, catalog, now, run, f.identity, f.entitlement, id);
      if (adopted === null) return null;
      grant = adopted;
      action = 'adopted';
      how = 'adopted';
    } else if (mode === 'remediate') {
      action = 'remediated';
      const g = f.grant;
      if (f.kind === 'missing' && g) {
        await enqueueGrantJob(tx, now, g, APPLY);
        how = APPLY;
      } else if (g && g.state === 'revoke_failed') {
        // Its revocation is still being retried: bring the next attempt forward.
        await enqueueGrantJob(tx, now, g, REVOKE);
        how = REVOKE;
      } else if (g && (g.state === 'active' || g.state === 'provisioning')) {
        await startRevocation(
          tx,
          now,
          run.actor,
          g.id,
          'reconcile',
          `reconciliation: ${f.kind} access`,
        );
        how = REVOKE;
      } else {
        const payload: RemovalPayload = {
          connector: run.connector,
          account: f.account,
          target: f.target,
          identity: f.identity,
          entitlements: run.entitlements,
          run: run.id,
          finding: id,
        };
        await enqueue(tx, now, {
          kind: REMOVE,
          payload: payload as unknown as Record<string, unknown>,
          subject: id,
          queue: run.connector,
          dedupeKey: `${REMOVE}:${run.connector}:${targetKey(f.target)}:${f.account}`,
          dueAt: now,
        });
        how = REMOVE;
      }
    }
    await tx.query(
      `INSERT INTO reconcile_findings (id, run_id, seq, connector, kind, account, target, identity, entitlement, grant_id, action, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        id,
        run.id,
        seq,
        run.connector,
        f.kind,
        f.account,
        JSON.stringify(f.target),
        f.identity,
        f.entitlement,
        grant,
        action,
        now,
      ],
    );
    const details = {
      run: run.id,
      connector: run.connector,
      kind: f.kind,
      account: f.account,
      target: f.target,
      identity: f.identity,
      entitlement: f.entitlement,
      grant,
      grant_state: f.grant?.state ?? null,
      mode,
      action,
    };
    const refs = [run.id, ...(grant ? [grant] : [])];
    events.push({ actor: run.actor, action: 'reconcile.finding', subject: id, refs, details });
    if (how)
      events.push({
        actor: run.actor,
        action: 'reconcile.remediated',
        subject: id,
        refs,
        details: { run: run.id, connector: run.connector, kind: f.kind, by: how, grant },
      });
    await appendAuditMany(tx, now, events);
    return { id, action, grant };
  });
}

/**
 * Adoption: the access stays, under a grant with an expiry (the entitlement's default, else its
 * maximum, else 30 days; never standing) and a review item for the app's owner, who decides
 * whether it should. The grant is active and verified: the listing just showed the access.
 */
async function adopt(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  run: RunRef,
  identity: string,
  entitlementId: string,
  finding: string,
): Promise<string | null> {
  const ent = catalog.entitlements.get(entitlementId);
  const app = ent ? catalog.apps.get(ent.app) : undefined;
  if (!ent || !app) return null;
  const [holder] = await tx.query<{ kind: string; owner: string }>(
    'SELECT kind, owner FROM identities WHERE id = $1 FOR UPDATE',
    [identity],
  );
  if (!holder) return null;
  const held = await tx.query(
    `SELECT 1 FROM grants WHERE identity = $1 AND entitlement = $2 AND state = ANY($3::text[])`,
    [identity, ent.id, LIVE],
  );
  if (held.length > 0) return null;
  const seconds = ent.defaultDuration ?? ent.maxDuration ?? ADOPT_DEFAULT_SECONDS;
  const id = newId('grt');
  const expires = addSeconds(now, seconds);
  await tx.query(
    `INSERT INTO grants (id, identity, entitlement, app, owner, request_id, trigger, emergency, state, duration, created_at, granted_at, verified_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, NULL, 'adopted', false, 'active', $6, $7, $7, $7, $8)`,
    [
      id,
      identity,
      ent.id,
      ent.app,
      holder.kind === 'human' ? identity : holder.owner,
      seconds,
      now,
      expires,
    ],
  );
  await appendAuditMany(tx, now, [
    {
      actor: run.actor,
      action: 'grant.created',
      subject: id,
      refs: [run.id, finding],
      details: {
        identity,
        entitlement: ent.id,
        trigger: 'adopted',
        emergency: false,
        duration_seconds: seconds,
        state: 'active',
        verified: true,
        expires_at: expires.toISOString(),
        finding,
      },
    },
  ]);
  await openReviewItem(tx, now, {
    kind: 'adopted',
    grantId: id,
    identity,
    entitlement: ent.id,
    reviewers: [app.owner],
    note: `Access to ${ent.id} held by ${identity} was found in ${run.connector} without a grant and adopted until ${expires.toISOString()}: confirm it or revoke it.`,
    due: addSeconds(now, ADOPT_REVIEW_SECONDS),
    refs: [id, run.id],
    details: { kind: 'adopted', grant: id, identity, entitlement: ent.id, finding },
  });
  return id;
}
