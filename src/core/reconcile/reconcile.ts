import { appendAudit } from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import type { IntegrationConfig } from '../model.js';
import { NotFoundError, TargetError } from '../errors.js';
import { newId } from '../ids.js';
import { type ConnectorSource, compareTargets, targetKey } from '../ports/connector.js';
import type { ItsmSource } from '../ports/itsm.js';
import type { Sql } from '../sql.js';
import { compareTickets, recordTicketFinding } from './tickets.js';
import { type Finding, type Holder, classify, needsHolder } from './classify.js';
import { grantsInAccountOrder } from './grants-side.js';
import { type Cell, type MergeCounts, type TargetGroup, mergeSorted } from './merge.js';
import { type Action, recordFinding } from './remedy.js';
import { FINDING_KINDS, type FindingKind, reconcileSettings } from './settings.js';

export interface ReconcileInput {
  /** One connector by name; all when absent. */
  connector?: string;
  /** Compare and report; write nothing (no run, no finding, no job, no event). */
  dryRun: boolean;
  actor: string;
  trigger: 'manual' | 'schedule';
}

export interface ReconcileDeps {
  sql: Sql;
  catalog: Catalog;
  connectors: ConnectorSource;
  now: () => Date;
  /** Page size of both sides of the merge. */
  pageSize?: number;
  /** Where the integrations' tickets are read; absent, their comparison is not covered. */
  itsm?: ItsmSource | undefined;
}

export type CoverageStatus = 'complete' | 'failed' | 'not_covered';

export interface Coverage {
  connector: string;
  status: CoverageStatus;
  assignments: number;
  grants: number;
  findings: number;
  error: string | null;
}

export interface FindingView {
  id: string | null;
  connector: string;
  kind: FindingKind;
  identity: string | null;
  entitlement: string | null;
  account: string;
  target: Record<string, string>;
  grant: string | null;
  /** The ticket of a ticket finding (`JIRA:ITSM-42`); null for the connectors' kinds. */
  ticket: string | null;
  action: Action;
}

export interface ReconcileResult {
  run: {
    id: string | null;
    status: 'complete' | 'partial';
    dry_run: boolean;
    trigger: 'manual' | 'schedule';
    connector: string | null;
    started_at: string;
    finished_at: string;
    connectors: Coverage[];
    findings_by_kind: Record<FindingKind, number>;
  };
  findings: FindingView[];
}

/** Findings waiting for their holders to be looked up, handled this many at a time. */
const HOLDER_BATCH = 500;
const PAGE = 1000;

/** Who holds each account (for access with no grant), in one statement per batch. */
async function holders(sql: Sql, accounts: string[], attr: string): Promise<Map<string, Holder>> {
  const rows = attr
    ? await sql.query<Holder & { account: string }>(
        `SELECT COALESCE(NULLIF(attributes->>$2, ''), id) AS account, id, status FROM identities
          WHERE COALESCE(NULLIF(attributes->>$2, ''), id) = ANY($1::text[]) ORDER BY id`,
        [accounts, attr],
      )
    : await sql.query<Holder & { account: string }>(
        'SELECT id AS account, id, status FROM identities WHERE id = ANY($1::text[])',
        [accounts],
      );
  const out = new Map<string, Holder>();
  // Several identities on one account (refused when provisioning): the one still active wins.
  for (const r of rows) {
    const seen = out.get(r.account);
    if (!seen || (seen.status !== 'active' && r.status === 'active'))
      out.set(r.account, { id: r.id, status: r.status });
  }
  return out;
}

/** A connector's governed targets, in the listing's order, each with its entitlements. */
function targetGroups(catalog: Catalog, connector: string): TargetGroup[] {
  const groups = new Map<string, TargetGroup>();
  for (const e of [...catalog.entitlements.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (catalog.apps.get(e.app)?.connector !== connector) continue;
    const key = targetKey(e.target);
    const g = groups.get(key) ?? { target: e.target, entitlements: [] };
    g.entitlements.push(e.id);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => compareTargets(a.target, b.target));
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Reconciliation (PRODUCT.md section 6): for each connector that can list, one streaming merge
 * of its target's assignments with the grants of its governed targets, both sorted by target and
 * account; each finding handled by the connector's `reconcile:` mode in a transaction of its own
 * with its audit events and jobs. A target that fails mid-run makes the run `partial` (what was
 * found before the failure is kept); a connector that cannot list is `not_covered`, never clean.
 */
export async function reconcile(d: ReconcileDeps, input: ReconcileInput): Promise<ReconcileResult> {
  const names = [...d.catalog.connectors.keys()].sort();
  if (input.connector !== undefined && !d.catalog.connectors.has(input.connector))
    throw new NotFoundError(`unknown connector "${input.connector}"`, {
      code: 'unknown_connector',
      field: 'connector',
    });
  const chosen = input.connector !== undefined ? [input.connector] : names;
  const started = d.now();
  const runId = input.dryRun ? null : newId('rec');
  if (runId) {
    await d.sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO reconcile_runs (id, connector, trigger, actor, status, started_at)
         VALUES ($1, $2, $3, $4, 'running', $5)`,
        [runId, input.connector ?? null, input.trigger, input.actor, started],
      );
      await appendAudit(tx, started, {
        actor: input.actor,
        action: 'reconcile.started',
        subject: runId,
        refs: [],
        details: { connectors: chosen, trigger: input.trigger },
      });
    });
  }
  const findings: FindingView[] = [];
  const coverage: Coverage[] = [];
  const covered = [];
  for (const name of chosen)
    covered.push(() => reconcileConnector(d, input, runId, name, findings));
  // The tickets are compared on a whole run only: a run of one connector is about its target.
  if (input.connector === undefined)
    for (const i of d.catalog.settings.integrations ?? [])
      covered.push(() => reconcileTickets(d, input, runId, i, findings));
  for (const run of covered) {
    const c = await run();
    const name = c.connector;
    coverage.push(c);
    if (runId) {
      await d.sql.query(
        `INSERT INTO reconcile_coverage (run_id, connector, status, assignments, grants, error, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [runId, name, c.status, c.assignments, c.grants, c.error, d.now()],
      );
    }
  }
  const status = coverage.some((c) => c.status === 'failed') ? 'partial' : 'complete';
  const byKind = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<
    FindingKind,
    number
  >;
  for (const f of findings) byKind[f.kind]++;
  const finished = d.now();
  if (runId) {
    await d.sql.transaction(async (tx) => {
      await tx.query('UPDATE reconcile_runs SET status = $2, finished_at = $3 WHERE id = $1', [
        runId,
        status,
        finished,
      ]);
      await appendAudit(tx, finished, {
        actor: input.actor,
        action: 'reconcile.completed',
        subject: runId,
        refs: [],
        details: {
          status,
          findings_by_kind: byKind,
          connectors: coverage.map((c) => ({
            connector: c.connector,
            status: c.status,
            findings: c.findings,
            ...(c.error ? { error: c.error } : {}),
          })),
        },
      });
    });
  }
  return {
    run: {
      id: runId,
      status,
      dry_run: input.dryRun,
      trigger: input.trigger,
      connector: input.connector ?? null,
      started_at: started.toISOString(),
      finished_at: finished.toISOString(),
      connectors: coverage,
      findings_by_kind: byKind,
    },
    findings,
  };
}

/**
 * One integration's tickets against the live record (core/reconcile/tickets.ts), as its own
 * coverage entry `itsm:NAME`: tickets read count as its assignments, and an ITSM (or a target)
 * that cannot be read makes it failed and the run partial.
 */
async function reconcileTickets(
  d: ReconcileDeps,
  input: ReconcileInput,
  runId: string | null,
  i: IntegrationConfig,
  out: FindingView[],
): Promise<Coverage> {
  const name = `itsm:${i.name}`;
  const result = (status: CoverageStatus, tickets: number, n: number, error: string | null) => ({
    connector: name,
    status,
    assignments: tickets,
    grants: 0,
    findings: n,
    error,
  });
  if (!d.itsm) return result('not_covered', 0, 0, 'this process cannot reach ITSM systems');
  let n = 0;
  const r = await compareTickets(
    { sql: d.sql, catalog: d.catalog, connectors: d.connectors, itsm: d.itsm, now: d.now() },
    i,
    async (f) => {
      const id = runId
        ? await recordTicketFinding(
            d.sql,
            d.now(),
            { id: runId, actor: input.actor },
            name,
            out.length,
            f,
          )
        : null;
      out.push({
        id,
        connector: name,
        kind: f.kind,
        identity: f.identity,
        entitlement: f.entitlement,
        account: f.account,
        target: f.target,
        grant: f.grant,
        ticket: f.ticket,
        action: 'reported',
      });
      n++;
    },
  );
  return result(r.error ? 'failed' : 'complete', r.tickets, n, r.error);
}

async function reconcileConnector(
  d: ReconcileDeps,
  input: ReconcileInput,
  runId: string | null,
  name: string,
  out: FindingView[],
): Promise<Coverage> {
  const config = d.catalog.connectors.get(name)!;
  const modes = reconcileSettings(config).modes;
  const attr =
    typeof config.settings.account_attribute === 'string' ? config.settings.account_attribute : '';
  const counts: MergeCounts = { assignments: 0, grants: 0 };
  let found = 0;
  const coverage = (status: CoverageStatus, error: string | null = null): Coverage => ({
    connector: name,
    status,
    assignments: counts.assignments,
    grants: counts.grants,
    findings: found,
    error,
  });
  const notCovered = (why: string) => coverage('not_covered', why);

  let connector;
  try {
    connector = await d.connectors.get(name);
  } catch (e) {
    if (e instanceof TargetError && e.code === 'connector_unavailable')
      return notCovered(message(e));
    return coverage('failed', message(e));
  }
  if (connector.capabilities && !connector.capabilities.listsAssignments)
    return notCovered(`connector ${name} cannot list the assignments in its target`);

  const groups = targetGroups(d.catalog, name);
  const entitlementsOf = new Map(groups.map((g) => [targetKey(g.target), g.entitlements]));
  const pageSize = d.pageSize ?? PAGE;
  const waiting: Cell[] = [];

  const handle = async (cell: Cell, holder?: Holder | null) => {
    const ents = entitlementsOf.get(targetKey(cell.target)) ?? [];
    for (const f of classify(cell, ents, holder)) {
      const view = await act(d, input, runId, name, ents, f, modes[f.kind], out.length);
      if (view) {
        out.push(view);
        found++;
      }
    }
  };
  const flush = async () => {
    if (waiting.length === 0) return;
    const who = await holders(
      d.sql,
      [...new Set(waiting.filter(needsHolder).map((c) => c.account))],
      attr,
    );
    for (const cell of waiting.splice(0)) await handle(cell, who.get(cell.account) ?? null);
  };

  try {
    const cells = mergeSorted(
      name,
      connector.listAll(
        groups.map((g) => g.target),
        { pageSize },
      ),
      groups,
      (g) => grantsInAccountOrder(d.sql, g.entitlements, attr, pageSize),
      counts,
    );
    for await (const cell of cells) {
      // Most pairs agree (held and granted): only the rest can be findings.
      if (
        cell.present &&
        cell.grants.some((g) => g.state === 'active' || g.state === 'provisioning')
      ) {
        if (
          cell.grants.every((g) => g.identity_status !== null && g.identity_status !== 'terminated')
        )
          continue;
      }
      if (!cell.present && !cell.grants.some((g) => g.state === 'active')) continue;
      // Findings come out in merge order: cells wait while holders are looked up in batches.
      waiting.push(cell);
      if (waiting.filter(needsHolder).length >= HOLDER_BATCH) await flush();
    }
    await flush();
  } catch (e) {
    if (e instanceof TargetError && e.code === 'capability_unsupported')
      return notCovered(message(e));
    // What was found before the failure stands; nothing after it is known.
    await flush().catch(() => undefined);
    return coverage('failed', message(e));
  }
  return coverage('complete');
}

async function act(
  d: ReconcileDeps,
  input: ReconcileInput,
  runId: string | null,
  connector: string,
  entitlements: string[],
  f: Finding,
  mode: 'report' | 'remediate' | 'adopt',
  seq: number,
): Promise<FindingView | null> {
  const view = (id: string | null, action: Action, grant: string | null): FindingView => ({
    id,
    connector,
    kind: f.kind,
    identity: f.identity,
    entitlement: f.entitlement,
    account: f.account,
    target: f.target,
    grant,
    ticket: null,
    action,
  });
  if (!runId) return view(null, 'reported', f.grant?.id ?? null);
  const r = await recordFinding(
    d.sql,
    d.catalog,
    d.now(),
    { id: runId, connector, actor: input.actor, entitlements },
    seq,
    f,
    mode,
  );
  return r ? view(r.id, r.action, r.grant) : null;
}
