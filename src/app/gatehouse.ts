import { actOnRequest } from '../core/approvals/act.js';
import {
  type Checkpoint,
  type CheckpointSigner,
  takeCheckpoint,
  verifyWithCheckpoint,
} from '../core/audit/checkpoint.js';
import { auditLines, exportAudit } from '../core/audit/export.js';
import { type Refusal, recordRefusal } from '../core/audit/refusals.js';
import { traceAudit } from '../core/audit/trace.js';
import { verifyAudit } from '../core/audit/verify.js';
import type { Catalog, CatalogCache } from '../core/catalog/catalog.js';
import type { Clock } from '../core/clock.js';
import { admitCall } from '../core/limits/admit.js';
import { countHits, forgetEndedWindows } from '../core/limits/rate-windows.js';
import type { ConnectorSource } from '../core/ports/connector.js';
import type { NotifierSource } from '../core/ports/notifier.js';
import type { ItsmSource } from '../core/ports/itsm.js';
import { itsmUseCases } from '../core/itsm/use-cases.js';
import { applyConfig } from '../core/catalog/apply.js';
import { decide } from '../core/decision/decide.js';
import { StaleCatalogError } from '../core/errors.js';
import { requireGrant } from '../core/grants/grants.js';
import { letExpire } from '../core/grants/reminders.js';
import {
  type GrantFilter,
  grantReaderFilter,
  grantView,
  grantViewFor,
  listGrants,
} from '../core/grants/view.js';
import {
  type IdentityFilter,
  identityReaderFilter,
  identityView,
  listIdentities,
} from '../core/identities/view.js';
import { catalogView } from '../core/catalog/view.js';
import { cancelRequest } from '../core/requests/cancel.js';
import { syncIdentities } from '../core/lifecycle/sync.js';
import type { GovernanceConfig, Identity, IdentityKind, Via } from '../core/model.js';
import { governanceReport } from '../core/report/report.js';
import {
  type ExtensionInput,
  type RequestInput,
  accessDecideInput,
  submitExtension,
} from '../core/requests/submit.js';
import { submissions } from '../core/requests/submit-group.js';
import {
  listRequestIds,
  listRequests,
  requestView,
  requestViewFor,
} from '../core/requests/view.js';
import { type Reader, authorizeTokenScopes, listReader } from '../core/authz.js';
import { sessionUseCases } from '../core/sessions/sessions.js';
import { authenticateToken } from '../core/tokens/authenticate.js';
import {
  type CreateTokenInput,
  createToken,
  listTokens,
  revokeToken,
} from '../core/tokens/tokens.js';
import { schemaVersion } from '../core/schema-version.js';
import { parseScopes } from '../core/tokens/scopes.js';
import { sweep } from '../core/jobs/sweep.js';
import type { PageInput } from '../core/paging.js';
import type { RuntimeSettings } from '../core/jobs/runtime.js';
import { retryGrant } from '../core/grants/retry.js';
import { revokeGrant } from '../core/grants/revoke.js';
import type { Sql } from '../core/sql.js';
import { type FulfilOutcome, fulfilTask } from '../core/tasks/fulfil.js';
import { type TaskFilter, listTasks, taskById } from '../core/tasks/view.js';
import { reconcile } from '../core/reconcile/reconcile.js';
import { reviewUseCases } from './reviews.js';
import { issueCredential } from '../core/credentials/issue.js';

export interface GatehouseDeps {
  sql: Sql;
  clock: Clock;
  catalog: CatalogCache;
  connectors: ConnectorSource;
  workerId: string;
  /** Job runtime settings (slots per connector, target timeout); defaults otherwise. */
  runtime?: Partial<RuntimeSettings>;
  /** Email and chat senders; without them notifications wait for a process that has them. */
  notifiers?: NotifierSource;
  /** Clients of the ITSM systems (integrations.yaml); without them tickets wait for a process that has them. */
  itsm?: ItsmSource;
}

/**
 * The use cases, wired once. The CLI, the HTTP API and the background jobs all call these, so
 * every path decides, audits and provisions the same way.
 */
export function gatehouse(d: GatehouseDeps) {
  const cat = () => d.catalog.get(d.sql);
  const now = () => d.clock.now();
  /**
   * Decisions start from the cached catalog and check its hash in the query that reads their
   * facts, saving a round trip; a catalog gone stale is reloaded and the decision run again.
   */
  const deciding = async <T>(fn: (catalog: Catalog) => Promise<T>): Promise<T> => {
    try {
      return await fn(d.catalog.peek() ?? (await cat()));
    } catch (e) {
      if (!(e instanceof StaleCatalogError)) throw e;
      d.catalog.invalidate();
      return fn(await cat());
    }
  };
  const workerDeps = async () => ({
    sql: d.sql,
    clock: d.clock,
    catalog: await cat(),
    connectors: d.connectors,
    workerId: d.workerId,
    ...(d.runtime ? { runtime: d.runtime } : {}),
    ...(d.notifiers ? { notifiers: d.notifiers } : {}),
    ...(d.itsm ? { itsm: d.itsm } : {}),
  });

  return {
    clock: d.clock,
    async request(input: RequestInput) {
      return deciding((c) => submissions(d.sql).submit(c, now(), input));
    },
    /** Steps 1–6 without writing anything: what would happen, and why. */
    async explain(input: RequestInput) {
      const at = now();
      const { di, plan } = await deciding(async (catalog) => {
        const di = await accessDecideInput(d.sql, catalog, input, false);
        return { di, plan: await decide(d.sql, catalog, at, di) };
      });
      return {
        id: null,
        status: plan.status,
        entitlement: di.entitlement.id,
        beneficiary: di.beneficiary.id,
        requester: di.requester,
        decision: plan.decision,
        approval: {
          stages: plan.stages.map((s, i) => ({
            rule: s.rule,
            approvers: s.approvers,
            min_approvals: s.minApprovals,
            fallback: s.fallback,
            state: i === 0 ? 'pending' : 'waiting',
            acted: [],
          })),
        },
        grant: null,
        dry_run: true,
      };
    },
    async extend(input: ExtensionInput) {
      return deciding((c) => submitExtension(d.sql, c, now(), input));
    },
    async act(
      requestId: string,
      actor: string,
      verdict: 'approve' | 'reject',
      comment: string,
      via: Via,
    ) {
      // The last approval decides again, so it too retries on a configuration applied meanwhile.
      await deciding((c) =>
        actOnRequest(d.sql, c, now(), { requestId, actor, verdict, comment, via }),
      );
      return requestView(d.sql, requestId);
    },
    /** Withdraws a pending request, as its requester or beneficiary. */
    async cancel(requestId: string, actor: string, comment: string, via: Via) {
      await cancelRequest(d.sql, now(), { requestId, actor, comment, via });
      return requestView(d.sql, requestId);
    },
    /** Lists and views take the reader the API authenticated; the CLI's operator reads all. */
    requests: (
      f: { status?: string; approver?: string; beneficiary?: string },
      page?: PageInput,
      reader?: Reader,
    ) => {
      const visibleTo = listReader(reader);
      return listRequests(d.sql, visibleTo ? { ...f, visibleTo } : f, page);
    },
    /** The ids of a page of `requests`, without their views (what `/api/v1/me` lists). */
    requestIds: (
      f: { status?: string; approver?: string; beneficiary?: string },
      page?: PageInput,
      reader?: Reader,
    ) => {
      const visibleTo = listReader(reader);
      return listRequestIds(d.sql, visibleTo ? { ...f, visibleTo } : f, page);
    },
    requestView: (id: string, reader?: Reader) => requestViewFor(d.sql, id, reader),
    async grants(f: GrantFilter, page?: PageInput, reader?: Reader) {
      const visibleTo = reader ? grantReaderFilter(await cat(), reader) : undefined;
      return listGrants(d.sql, { ...f, now: now(), ...(visibleTo ? { visibleTo } : {}) }, page);
    },
    grant: async (id: string, reader?: Reader) =>
      grantViewFor(d.sql, await cat(), id, reader, now()),
    /** Manual revocation; who may is core/authz.ts's to say. */
    async revoke(grantId: string, actor: string, reason: string, via: Via) {
      await revokeGrant(d.sql, await cat(), now(), { grantId, actor, reason, via });
      return grantView(await requireGrant(d.sql, grantId));
    },
    /** The answer to an expiry reminder, by the holder or an owner: stop reminding, let it run out. */
    async letExpire(grantId: string, actor: string, via: Via) {
      await letExpire(d.sql, now(), grantId, actor, via);
      return grantView(await requireGrant(d.sql, grantId));
    },
    /** Re-queues a failed apply, for whoever could have requested the access. */
    async retry(grantId: string, actor: string, via: Via) {
      await retryGrant(d.sql, now(), grantId, actor, via);
      return grantView(await requireGrant(d.sql, grantId));
    },
    /** A credential for a non-human identity's account, for its owner; the secret is returned once. */
    async issueCredential(grantId: string, actor: string, via: Via) {
      return issueCredential(
        { sql: d.sql, catalog: await cat(), connectors: d.connectors, now },
        { grantId, actor, via },
      );
    },
    /** A fulfiller's attestation on a manual connector's task; who may is core/authz.ts's to say. */
    async fulfil(taskId: string, actor: string, outcome: FulfilOutcome, comment: string, via: Via) {
      await fulfilTask(d.sql, await cat(), now(), { taskId, actor, outcome, comment, via });
      return taskById(d.sql, now(), taskId);
    },
    /** Fulfilment tasks; a reader who does not read everything sees those they may fulfil. */
    async tasks(f: TaskFilter, page?: PageInput, reader?: Reader) {
      const fulfiller = listReader(reader);
      return listTasks(d.sql, await cat(), now(), fulfiller ? { ...f, fulfiller } : f, page);
    },
    /** Runs due work; once `stop` is aborted it leases nothing more and returns when in-flight work is recorded. */
    async sweep(stop?: AbortSignal) {
      return sweep(await workerDeps(), stop);
    },
    /** Compares targets with the record (one connector, or all); a dry run writes nothing. */
    async reconcile(input: { connector?: string; dryRun: boolean; actor: string }) {
      return reconcile(
        { sql: d.sql, catalog: await cat(), connectors: d.connectors, now, itsm: d.itsm },
        { ...input, trigger: 'manual' },
      );
    },
    /** `via` defaults to the operator's command line, which is where configuration comes from today. */
    async apply(cfg: GovernanceConfig, actor: string, dryRun: boolean, via: Via = 'cli') {
      const result = await applyConfig(d.sql, cfg, now(), actor, dryRun, via);
      if (!dryRun) d.catalog.invalidate();
      return result;
    },
    async sync(
      snapshot: Identity[],
      actor: string,
      kinds?: IdentityKind[],
      allowMassLeave = false,
      via: Via = 'cli',
    ) {
      return syncIdentities(d.sql, await cat(), now(), actor, snapshot, kinds, {
        allowMassLeave,
        via,
      });
    },
    async identities(page?: PageInput, f: IdentityFilter = {}, reader?: Reader) {
      const visibleTo = reader ? identityReaderFilter(await cat(), reader) : undefined;
      return listIdentities(d.sql, page, f, visibleTo);
    },
    async identity(id: string, reader?: Reader) {
      return identityView(d.sql, id, reader ? { reader, catalog: await cat() } : undefined);
    },
    async catalog() {
      return catalogView(d.sql, await cat());
    },
    auditVerify: () => verifyAudit(d.sql),
    auditVerifyCheckpoint: (checkpoint: Checkpoint) => verifyWithCheckpoint(d.sql, checkpoint),
    auditCheckpoint: (signer: CheckpointSigner) => takeCheckpoint(d.sql, now(), signer),
    auditTrace: (id: string) => traceAudit(d.sql, id),
    auditLines: (since: Date | undefined) => auditLines(d.sql, since),
    auditExport: (since: Date | undefined, write: (line: string) => void) =>
      exportAudit(d.sql, since, write),
    /**
     * `heldScopes`: the scopes of the token making this one, when made through the API, which the
     * new token may not exceed (core/authz.ts); the command line's operator may make any.
     */
    createToken(input: CreateTokenInput, heldScopes?: readonly string[]) {
      if (heldScopes) authorizeTokenScopes(input.actor, heldScopes, parseScopes(input.scopes));
      return createToken(d.sql, now(), input);
    },
    tokens: (page?: PageInput) => listTokens(d.sql, page),
    revokeToken: (id: string, actor: string, via: Via) =>
      revokeToken(d.sql, now(), { id, actor, via }),
    authenticate: (token: string) => authenticateToken(d.sql, now(), token),
    /** A refused or unauthenticated call, audited in its own transaction (the change rolled back). */
    recordRefusal: (r: Refusal) => recordRefusal(d.sql, now(), r),
    /** People's sign-in and sessions (ADR 0015). */
    sessions: sessionUseCases({ sql: d.sql, now, settings: async () => (await cat()).settings }),
    schemaVersion: () => schemaVersion(d.sql),
    /** Rate-limit counts kept in the store, so every node on it shares them (ADR 0036). */
    rateWindows: {
      count: (keys: readonly string[], windowMs: number) => countHits(d.sql, keys, windowMs, now()),
      forgetEnded: (windowMs: number) => forgetEndedWindows(d.sql, windowMs, now()),
      /** count, and the row of the token the call presents, in one statement (admit.ts). */
      admit: (keys: readonly string[], windowMs: number, token: string) =>
        admitCall(d.sql, keys, windowMs, now(), token),
    },
    /** Access reviews (ADR 0023): campaigns, items, decisions. */
    reviews: reviewUseCases({ sql: d.sql, now, catalog: cat }),
    /** Tickets from ITSM systems: POST /hooks/{integration} (ADR 0026). */
    itsm: itsmUseCases({ sql: d.sql, now, catalog: cat, deciding, itsm: d.itsm }),
    async report() {
      return governanceReport(d.sql, await cat(), now());
    },
  };
}

export type Gatehouse = ReturnType<typeof gatehouse>;
