import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import type { ConnectorSource } from '../ports/connector.js';
import type { Sql } from '../sql.js';
import { backoffSeconds, MAX_ATTEMPTS } from '../grants/worker.js';
import type { Job } from '../jobs/queue.js';
import type { JobHandler } from '../jobs/runtime.js';

/** Removes access found in a target that no grant accounts for (a remediated finding). */
export const REMOVE = 'reconcile.remove';

export interface RemovalPayload {
  connector: string;
  account: string;
  target: Record<string, string>;
  /** The identity the account maps to, if any, and the target's entitlements. */
  identity: string | null;
  entitlements: string[];
  run: string;
  finding: string;
}

export interface RemovalDeps {
  sql: Sql;
  catalog: Catalog;
  connectors: ConnectorSource;
  workerId: string;
}

const payloadOf = (job: Job) => job.payload as unknown as RemovalPayload;

/**
 * A grant made since the finding (a request approved meanwhile) now accounts for the access:
 * removing it would undo a decision, so the removal stands down.
 */
async function nowGranted(d: RemovalDeps, p: RemovalPayload): Promise<boolean> {
  if (!p.identity) return false;
  const rows = await d.sql.query(
    `SELECT 1 FROM grants WHERE identity = $1 AND entitlement = ANY($2::text[])
        AND state IN ('provisioning', 'active') LIMIT 1`,
    [p.identity, p.entitlements],
  );
  return rows.length > 0;
}

type Outcome = 'removed' | 'granted_since';

/** The job kind: revoke in the target, then read back; only a verified removal counts. */
export function removalHandler(d: RemovalDeps): JobHandler<Outcome> {
  return {
    kind: REMOVE,
    retry: { maxAttempts: MAX_ATTEMPTS, backoffSeconds },
    async perform(job) {
      const p = payloadOf(job);
      if (await nowGranted(d, p)) return 'granted_since';
      const connector = await d.connectors.get(p.connector);
      const ref = { account: p.account, target: p.target };
      await connector.revoke(ref);
      if (await connector.readBack(ref))
        throw new Error(
          `${p.connector} still shows ${p.account} in ${JSON.stringify(p.target)} after revoke`,
        );
      return 'removed';
    },
    async succeeded(tx, job, now, outcome) {
      const p = payloadOf(job);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: 'reconcile.removed',
        subject: p.finding,
        refs: [p.run],
        details: {
          connector: p.connector,
          account: p.account,
          target: p.target,
          identity: p.identity,
          verified_removed: outcome === 'removed',
          ...(outcome === 'granted_since' ? { skipped: 'granted_since' } : {}),
          attempts: job.attempts,
        },
      });
    },
    async failed(tx, job, now, f) {
      const p = payloadOf(job);
      await appendAudit(tx, now, {
        actor: d.workerId,
        action: f.final ? 'reconcile.remove_failed' : 'provision.retry_scheduled',
        subject: p.finding,
        refs: [p.run],
        details: {
          op: 'remove',
          connector: p.connector,
          account: p.account,
          target: p.target,
          attempt: f.attempts,
          error: f.error,
          next_attempt_at: f.nextAt?.toISOString() ?? null,
        },
      });
    },
  };
}
