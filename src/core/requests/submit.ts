import { authorizeRequest } from '../authz.js';
import {
  type AuditInput,
  auditedTransaction,
  recordAuditMany,
  stagedByStatement,
  stagingCtes,
  stagingParams,
} from '../audit/chain.js';
import type { Catalog } from '../catalog/catalog.js';
import { entitlementOf } from '../catalog/catalog.js';
import { type DecideInput, type DecisionPlan, decide } from '../decision/decide.js';
import {
  type DecisionFacts,
  type LoadedFacts,
  loadFacts,
  loadFactsMany,
} from '../decision/inputs.js';
import { addSeconds } from '../duration.js';
import { GatehouseError, InputError, NotFoundError } from '../errors.js';
import {
  createGrant,
  extendGrant,
  grantCtes,
  grantValues,
  grantsCtes,
  grantsJson,
  requireGrant,
} from '../grants/grants.js';
import { newId } from '../ids.js';
import { requireIdentity } from '../identities/queries.js';
import type { Entitlement, Identity, Via } from '../model.js';
import { type Sql, prepared } from '../sql.js';
import { openPostEventReview } from './post-event.js';
import type { RequestView } from './view.js';

export interface RequestInput {
  requester: string;
  beneficiary: string;
  entitlement: string;
  justification: string;
  duration?: number | null;
  ticket?: string | null;
  emergency?: boolean;
  /** How the requester was established (recorded in the audit). */
  via: Via;
}

export interface ExtensionInput {
  requester: string;
  grant: string;
  justification: string;
  duration?: number;
  ticket?: string | null;
  via: Via;
}

const TICKET = /^[A-Z][A-Z0-9_]*:[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function checkTicket(ticket: string | null | undefined): string | null {
  if (ticket == null || ticket === '') return null;
  if (!TICKET.test(ticket))
    throw new InputError(`ticket "${ticket}" is not SYSTEM:KEY (e.g. JIRA:ITSM-42)`, {
      code: 'invalid_ticket',
      field: 'ticket',
    });
  return ticket;
}

/** The beneficiary and the decision facts in one round trip; unknown people are input errors. */
async function factsFor(
  sql: Sql,
  catalog: Catalog,
  beneficiary: string,
  requester: string,
  entitlement: string,
  lock: boolean,
) {
  // Unlocked facts are only ever read for explain, which writes nothing (see loadFacts).
  const loaded = await loadFacts(sql, {
    beneficiary,
    requester,
    entitlement,
    lock,
    catalog,
    dryRun: !lock,
  });
  return checkedFacts(loaded, beneficiary, requester);
}

/** Facts read for a request: unknown people are input errors, a requester who may not ask refused. */
function checkedFacts(loaded: LoadedFacts | undefined, beneficiary: string, requester: string) {
  if (!loaded)
    throw new NotFoundError(`unknown identity "${beneficiary}"`, { field: 'beneficiary' });
  if (!loaded.requesterExists)
    throw new NotFoundError(`unknown requester "${requester}"`, { field: 'requester' });
  // Checked like the beneficiary (core/authz.ts). Asking for oneself while suspended is decided,
  // and recorded, as identity_inactive.
  authorizeRequest(
    { id: requester, status: loaded.facts.requesterStatus ?? 'unknown' },
    beneficiary,
  );
  return loaded;
}

/** Reads what a decision needs for an access request; shared by request and explain. */
export async function accessDecideInput(
  sql: Sql,
  catalog: Catalog,
  input: RequestInput,
  lock: boolean,
): Promise<DecideInput> {
  const entitlement = entitlementOf(catalog, input.entitlement);
  const { beneficiary, facts } = await factsFor(
    sql,
    catalog,
    input.beneficiary,
    input.requester,
    entitlement.id,
    lock,
  );
  return accessInput(input, entitlement, beneficiary, facts);
}

/**
 * accessDecideInput for each of a submission group's requests (ADR 0051), their facts in one
 * statement: the beneficiaries must differ and their rows be locked by the caller. Each answer is
 * the request's decision input, or the error accessDecideInput would have thrown for it.
 */
export async function accessDecideInputs(
  sql: Sql,
  catalog: Catalog,
  inputs: readonly RequestInput[],
): Promise<(DecideInput | GatehouseError)[]> {
  const entitlements = inputs.map((i) => refusal(() => entitlementOf(catalog, i.entitlement)));
  const valid = inputs.flatMap((input, i) => {
    const e = entitlements[i]!;
    return e instanceof GatehouseError ? [] : [{ input, entitlement: e, i }];
  });
  const facts = await loadFactsMany(
    sql,
    catalog,
    valid.map((v) => ({
      beneficiary: v.input.beneficiary,
      requester: v.input.requester,
      entitlement: v.entitlement.id,
    })),
  );
  const decided = new Map(
    valid.map((v, k) => [
      v.i,
      refusal(() => {
        const loaded = checkedFacts(facts[k], v.input.beneficiary, v.input.requester);
        return accessInput(v.input, v.entitlement, loaded.beneficiary, loaded.facts);
      }),
    ]),
  );
  return entitlements.map((e, i) => (e instanceof GatehouseError ? e : decided.get(i)!));
}

/** What f returns, or the domain error it threw (any other error is thrown on). */
function refusal<T>(f: () => T): T | GatehouseError {
  try {
    return f();
  } catch (e) {
    if (e instanceof GatehouseError) return e;
    throw e;
  }
}

function accessInput(
  input: RequestInput,
  entitlement: Entitlement,
  beneficiary: Identity,
  facts: DecisionFacts,
): DecideInput {
  return {
    requester: input.requester,
    beneficiary,
    facts,
    entitlement,
    justification: input.justification ?? '',
    duration: input.duration,
    ticket: checkTicket(input.ticket),
    emergency: Boolean(input.emergency),
    kind: 'access',
    via: input.via,
  };
}

export async function extendDecideInput(
  sql: Sql,
  catalog: Catalog,
  input: ExtensionInput,
  lock: boolean,
): Promise<DecideInput> {
  const g = await requireGrant(sql, input.grant);
  const entitlement = entitlementOf(catalog, g.entitlement);
  const { beneficiary, facts } = await factsFor(
    sql,
    catalog,
    g.identity,
    input.requester,
    entitlement.id,
    lock,
  );
  return {
    requester: input.requester,
    beneficiary,
    facts,
    entitlement,
    justification: input.justification ?? '',
    duration: input.duration ?? entitlement.defaultDuration,
    ticket: checkTicket(input.ticket),
    emergency: false,
    kind: 'extend',
    via: input.via,
    grant: {
      id: g.id,
      expiresAt: g.expires_at,
      grantedAt: g.granted_at,
      state: g.state,
      identity: g.identity,
      entitlement: g.entitlement,
    },
  };
}

/**
 * Records a decided request and carries out its plan in one transaction: the request, its
 * decision record, approval stages, the grant and its apply job, and their audit events.
 */
export async function recordDecision(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  input: DecideInput,
  decided: DecisionPlan,
  /** The caller's transaction ends after this (see record). */
  opts: { endsTransaction?: boolean } = {},
): Promise<string> {
  return (await record(tx, catalog, now, input, decided, opts.endsTransaction)).id;
}

/** A submission group's member, decided: what recordGroup writes. */
export interface GroupDecision {
  catalog: Catalog;
  now: Date;
  input: DecideInput;
  plan: DecisionPlan;
}

/**
 * Records a submission group's decided requests (ADR 0051) as record does each, in one statement
 * that ends the transaction: the requests, their approval stages, the grants of those approved at
 * once with their apply jobs, and every event, staged in the members' order. Only new access
 * requests that are not break-glass (whose review follows), with different beneficiaries whose
 * rows the caller holds. Undefined, and nothing written, when a request did not go in (another
 * live request for the same entitlement held the unique index, which the locks make unreachable):
 * the caller rolls back and submits each alone, where that case has its answer.
 */
export async function recordGroup(
  tx: Sql,
  members: readonly GroupDecision[],
): Promise<RequestView[] | undefined> {
  const rows = members.map((m) => {
    const id = newId('req');
    const granted =
      m.plan.status === 'approved' ? grantedAtOnce(id, m.now, m.input, m.plan) : undefined;
    const events = [
      ...decisionEvents(id, m.input, m.plan),
      ...(granted ? [granted.created] : []),
    ].map((e) => ({ ...e, at: m.now }));
    return { m, id, granted, events, values: requestValues(m.catalog, m.now, id, m.input, m.plan) };
  });
  const staging = stagingParams(
    tx,
    members[0]!.now,
    rows.flatMap((r) => r.events),
  );
  if (!staging) throw new Error('a submission group must stage its events in its last statement');
  const stages = rows.flatMap((r) =>
    r.m.plan.stages.map((st, idx) => ({ request: r.id, idx, st })),
  );
  const grants = rows.flatMap((r) => (r.granted ? [r.granted.values] : []));
  const inserted = await tx.query<{ id: string }>(INSERT_REQUESTS, [
    JSON.stringify(
      rows.map((r) =>
        Object.fromEntries(
          REQUEST_COLUMNS.map((c, k) => [c, c === 'decision' ? r.m.plan.decision : r.values[k]]),
        ),
      ),
    ),
    JSON.stringify(
      stages.map((x) => ({
        request_id: x.request,
        idx: x.idx,
        rule: x.st.rule,
        approvers: x.st.approvers,
        min_approvals: x.st.minApprovals,
        fallback: x.st.fallback,
      })),
    ),
    grantsJson(grants),
    rows.length,
    ...staging,
  ]);
  if (inserted.length < rows.length) return undefined;
  stagedByStatement(tx);
  return rows.map((r) =>
    recordedView(
      r.m.catalog,
      r.m.now,
      r.id,
      r.m.input,
      r.m.plan,
      r.granted ? newGrantView(r.granted.id) : null,
    ),
  );
}

/**
 * recordDecision, answering with the request's view as this transaction wrote it: what
 * requestView would read back just after commit, without the round trip (ADR 0043).
 */
async function record(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  input: DecideInput,
  decided: DecisionPlan,
  /** The caller ends its transaction after this: the request's own INSERT may then carry the
   * grant of a plan approved at once and stage every event (ADR 0045). */
  endsTransaction = false,
): Promise<RequestView> {
  const id = newId('req');
  const events = (p: DecisionPlan) => decisionEvents(id, input, p);
  let plan = decided;
  // A plan with nothing to carry out, or a new grant approved at once with nothing after it
  // (not break-glass, whose review follows), ends the transaction with the request's INSERT:
  // the grant, its job and every event go in the same statement (ADR 0045).
  const grantHere =
    endsTransaction && plan.status === 'approved' && input.kind === 'access' && !input.emergency;
  let granted = grantHere ? grantedAtOnce(id, now, input, plan) : undefined;
  let staging =
    endsTransaction && (plan.status !== 'approved' || granted)
      ? stagingParams(tx, now, [...events(plan), ...(granted ? [granted.created] : [])])
      : undefined;
  if (!staging) granted = undefined;
  if (!(await insertRequest(tx, catalog, now, id, input, plan, staging, granted?.values))) {
    // The beneficiary's lock makes this unreachable; the unique index is the last line, and
    // losing to it is the same answer the duplicate check gives, never an internal error.
    // Nothing was staged or granted: the events below say what was recorded instead.
    staging = undefined;
    granted = undefined;
    const [live] = await tx.query<{ id: string }>(
      `SELECT id FROM requests WHERE beneficiary = $1 AND entitlement = $2 AND status = 'pending_approval'`,
      [input.beneficiary.id, input.entitlement.id],
    );
    plan = {
      status: 'rejected',
      decision: {
        ...plan.decision,
        outcome: 'rejected',
        reasons: [
          {
            code: 'duplicate',
            message: `${input.beneficiary.id} already has a pending request for ${input.entitlement.id} (${live?.id ?? 'just made'})`,
          },
        ],
      },
      duration: plan.duration,
      stages: [],
      sodException: null,
    };
    await insertRequest(tx, catalog, now, id, input, plan);
  }
  if (staging) stagedByStatement(tx);
  else await recordAuditMany(tx, now, events(plan));
  // Carried out from what was just recorded: the row is not read back, nor the beneficiary, whose
  // row this transaction has read (and, for a submission, locked).
  const grant = granted
    ? newGrantView(granted.id)
    : plan.status === 'approved'
      ? await carryOut(tx, catalog, now, 'gatehouse', {
          requestId: id,
          requester: input.requester,
          beneficiary: input.beneficiary.id,
          identity: input.beneficiary,
          entitlement: input.entitlement.id,
          duration: plan.duration,
          emergency: input.emergency,
          kind: input.kind,
          extendsGrant: input.grant?.id ?? null,
        })
      : input.grant
        ? {
            id: input.grant.id,
            state: input.grant.state,
            expires_at: input.grant.expiresAt
              ? new Date(input.grant.expiresAt).toISOString()
              : null,
          }
        : null;
  return recordedView(catalog, now, id, input, plan, grant);
}

/** The grant of a new access request approved at once (not break-glass), as grantValues gives it. */
const grantedAtOnce = (id: string, now: Date, input: DecideInput, plan: DecisionPlan) =>
  grantValues(newId('grt'), now, 'gatehouse', {
    identity: input.beneficiary,
    entitlement: input.entitlement,
    requestId: id,
    trigger: 'request',
    emergency: false,
    duration: plan.duration,
  });

/** A request's `request.submitted` and `request.decided` events. */
function decisionEvents(id: string, input: DecideInput, plan: DecisionPlan): AuditInput[] {
  const refs = input.grant ? [input.grant.id] : [];
  return [
    {
      actor: input.requester,
      action: 'request.submitted',
      subject: id,
      refs,
      details: {
        kind: input.kind,
        beneficiary: input.beneficiary.id,
        entitlement: input.entitlement.id,
        justification: input.justification,
        ticket: input.ticket,
        emergency: input.emergency,
        extends_grant: input.grant?.id ?? null,
        via: input.via ?? 'job',
      },
    },
    {
      actor: 'gatehouse',
      action: 'request.decided',
      subject: id,
      refs,
      details: { status: plan.status, decision: plan.decision },
    },
  ];
}

/**
 * The view of a request this transaction inserted, from the values it inserted: requestViews'
 * shape field for field (`recorded-view.test.ts` holds the two equal for every kind of outcome).
 * The decision goes through JSON as the stored jsonb does, so no undefined field survives.
 */
function recordedView(
  catalog: Catalog,
  now: Date,
  id: string,
  input: DecideInput,
  plan: DecisionPlan,
  grant: RequestView['grant'],
): RequestView {
  const lapsesAt = lapsesAtFor(catalog, now, plan);
  return {
    id,
    status: plan.status,
    kind: input.kind,
    entitlement: input.entitlement.id,
    beneficiary: input.beneficiary.id,
    requester: input.requester,
    justification: input.justification,
    ticket: input.ticket ?? null,
    emergency: input.emergency,
    duration_seconds: plan.duration ?? null,
    created_at: now.toISOString(),
    lapses_at: lapsesAt ? lapsesAt.toISOString() : null,
    decision: JSON.parse(JSON.stringify(plan.decision)) as RequestView['decision'],
    approval: {
      stages: plan.stages.map((st, i) => ({
        rule: st.rule,
        approvers: [...st.approvers],
        min_approvals: st.minApprovals,
        fallback: st.fallback,
        state: i === 0 ? 'pending' : 'waiting',
        acted: [],
      })),
    },
    grant,
  };
}

const lapsesAtFor = (catalog: Catalog, now: Date, plan: DecisionPlan): Date | null =>
  plan.status === 'pending_approval' ? addSeconds(now, catalog.settings.approvalTimeout) : null;

// The request and its approval stages in one statement (a round trip per stage before): the stages
// go in only when the request did, and the request's id comes back only when it did.
const INSERT_PARTS = `r AS (
  INSERT INTO requests (id, requester, beneficiary, entitlement, justification, duration, ticket, emergency, kind,
                        extends_grant, status, decision, created_at, lapses_at, closed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (beneficiary, entitlement) WHERE status = 'pending_approval' DO NOTHING
     RETURNING id),
s AS (
  INSERT INTO approval_stages (request_id, idx, rule, approvers, min_approvals, fallback, state)
  SELECT r.id, x.idx - 1, x.rule, ARRAY(SELECT jsonb_array_elements_text(x.approvers)), x.min_approvals, x.fallback,
         CASE WHEN x.idx = 1 THEN 'pending' ELSE 'waiting' END
    FROM r, unnest($16::text[], $17::jsonb[], $18::int[], $19::boolean[])
            WITH ORDINALITY AS x(rule, approvers, min_approvals, fallback, idx))
`;
const INSERT_REQUEST = prepared(`WITH ${INSERT_PARTS} SELECT id FROM r`);
// The same ending the transaction: its audit events staged too, only when the request went in.
const INSERT_REQUEST_STAGED = prepared(
  `WITH ${INSERT_PARTS}, ${stagingCtes(20, 'EXISTS (SELECT 1 FROM r)')} SELECT id FROM r`,
);
// Approved at once: the grant and its apply job too, after the request and only with it.
const INSERT_REQUEST_GRANTED_STAGED = prepared(
  `WITH ${INSERT_PARTS}, ${grantCtes(20, true)}, ${stagingCtes(30, 'EXISTS (SELECT 1 FROM r)')} SELECT id FROM r`,
);

/**
 * Many requests (`$1`, a JSON array of each request's REQUEST_COLUMNS) with their approval stages (`$2`:
 * each stage's request id, index from 0, rule, approvers, minimum, fallback), the grants of those
 * approved at once (`$3`, grantsCtes), and the events staged (from `$5`) when all `$4` requests
 * went in. JSON rather than arrays, so that the plan is made once per connection (FACTS_MANY_SQL).
 */
const INSERT_REQUESTS = prepared(`WITH r AS (
  INSERT INTO requests (id, requester, beneficiary, entitlement, justification, duration, ticket, emergency, kind,
                        extends_grant, status, decision, created_at, lapses_at, closed_at)
  SELECT * FROM jsonb_to_recordset($1::jsonb)
           AS q(id text, requester text, beneficiary text, entitlement text, justification text, duration integer,
                ticket text, emergency boolean, kind text, extends_grant text, status text, decision jsonb,
                created_at timestamptz, lapses_at timestamptz, closed_at timestamptz)
     ON CONFLICT (beneficiary, entitlement) WHERE status = 'pending_approval' DO NOTHING
     RETURNING id),
s AS (
  INSERT INTO approval_stages (request_id, idx, rule, approvers, min_approvals, fallback, state)
  SELECT x.request_id, x.idx, x.rule, ARRAY(SELECT jsonb_array_elements_text(x.approvers)), x.min_approvals,
         x.fallback, CASE WHEN x.idx = 0 THEN 'pending' ELSE 'waiting' END
    FROM jsonb_to_recordset($2::jsonb)
           AS x(request_id text, idx integer, rule text, approvers jsonb, min_approvals integer, fallback boolean)
   WHERE x.request_id IN (SELECT id FROM r)),
${grantsCtes(3)},
${stagingCtes(5, '(SELECT count(*) FROM r) = $4')}
SELECT id FROM r`);

const REQUEST_COLUMNS = [
  'id',
  'requester',
  'beneficiary',
  'entitlement',
  'justification',
  'duration',
  'ticket',
  'emergency',
  'kind',
  'extends_grant',
  'status',
  'decision',
  'created_at',
  'lapses_at',
  'closed_at',
] as const;

/** A request's row as INSERT_PARTS' first fifteen values. */
function requestValues(
  catalog: Catalog,
  now: Date,
  id: string,
  input: DecideInput,
  plan: DecisionPlan,
): unknown[] {
  return [
    id,
    input.requester,
    input.beneficiary.id,
    input.entitlement.id,
    input.justification,
    plan.duration,
    input.ticket,
    input.emergency,
    input.kind,
    input.grant?.id ?? null,
    plan.status,
    JSON.stringify(plan.decision),
    now,
    lapsesAtFor(catalog, now, plan),
    plan.status === 'pending_approval' ? null : now,
  ];
}

/**
 * Inserts the request row and its approval stages; false, and neither, when another live request
 * for the same beneficiary and entitlement holds the unique index (`requests_one_live`, migration 005).
 */
async function insertRequest(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  id: string,
  input: DecideInput,
  plan: DecisionPlan,
  /** The transaction's audit events, staged by this statement when the request goes in. */
  staging?: unknown[],
  /** With staging: the grant (grantValues) made with the request, when it goes in. */
  grant?: unknown[],
): Promise<boolean> {
  const text = !staging
    ? INSERT_REQUEST
    : grant
      ? INSERT_REQUEST_GRANTED_STAGED
      : INSERT_REQUEST_STAGED;
  const rows = await tx.query(text, [
    ...requestValues(catalog, now, id, input, plan),
    plan.stages.map((st) => st.rule),
    plan.stages.map((st) => JSON.stringify(st.approvers)),
    plan.stages.map((st) => st.minApprovals),
    plan.stages.map((st) => st.fallback),
    ...(staging && grant ? grant : []),
    ...(staging ?? []),
  ]);
  return rows.length > 0;
}

/** What carrying out an approved request needs: the request as recorded, its beneficiary. */
interface Approved {
  requestId: string;
  requester: string;
  beneficiary: string;
  /** The beneficiary's row when the caller has it; read here otherwise (a new grant needs it). */
  identity?: Identity;
  entitlement: string;
  duration: number | null;
  emergency: boolean;
  kind: string;
  extendsGrant: string | null;
}

/** Carries out an approved request: a new grant (with its apply job), or a moved expiry. */
export async function fulfil(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  requestId: string,
  actor: string,
): Promise<void> {
  const [r] = await tx.query<{
    beneficiary: string;
    entitlement: string;
    duration: number | null;
    emergency: boolean;
    kind: string;
    extends_grant: string | null;
    requester: string;
  }>('SELECT * FROM requests WHERE id = $1', [requestId]);
  if (!r) throw new Error(`request ${requestId} vanished`);
  await carryOut(tx, catalog, now, actor, {
    requestId,
    requester: r.requester,
    beneficiary: r.beneficiary,
    entitlement: r.entitlement,
    duration: r.duration,
    emergency: r.emergency,
    kind: r.kind,
    extendsGrant: r.extends_grant,
  });
}

/** Carries out an approved request; the grant it made or moved, as a request's view shows it. */
async function carryOut(
  tx: Sql,
  catalog: Catalog,
  now: Date,
  actor: string,
  r: Approved,
): Promise<NonNullable<RequestView['grant']>> {
  if (r.kind === 'extend' && r.extendsGrant) {
    const expires = await extendGrant(tx, now, actor, r.extendsGrant, r.duration ?? 0, r.requestId);
    // extendGrant refuses any grant not active, so active is what it left.
    return { id: r.extendsGrant, state: 'active', expires_at: expires.toISOString() };
  }
  const identity = r.identity ?? (await requireIdentity(tx, r.beneficiary));
  const entitlement = entitlementOf(catalog, r.entitlement);
  const grantId = await createGrant(tx, now, actor, {
    identity,
    entitlement,
    requestId: r.requestId,
    trigger: r.emergency ? 'emergency' : r.kind === 'birthright' ? 'birthright' : 'request',
    emergency: r.emergency,
    duration: r.duration,
  });
  if (r.emergency)
    await openPostEventReview(tx, catalog, now, {
      grantId,
      requestId: r.requestId,
      requester: r.requester,
      identity,
      entitlement,
    });
  return newGrantView(grantId);
}

/** A new grant as a request's view shows it: waiting for its apply job, expiring from activation. */
const newGrantView = (id: string): NonNullable<RequestView['grant']> => ({
  id,
  state: 'provisioning',
  expires_at: null,
});

/** The request as this submission recorded it (its view; read again, it reads the same). */
export async function submitRequest(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  input: RequestInput,
  /** Called once the request is written, before its COMMIT (submit-group.ts). */
  written?: () => void,
): Promise<RequestView> {
  return auditedTransaction(sql, async (tx) => {
    const di = await accessDecideInput(tx, catalog, input, true);
    const view = await record(tx, catalog, now, di, await decide(tx, catalog, now, di), true);
    written?.();
    return view;
  });
}

/** The request as this submission recorded it (its view; read again, it reads the same). */
export async function submitExtension(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  input: ExtensionInput,
): Promise<RequestView> {
  return auditedTransaction(sql, async (tx) => {
    const di = await extendDecideInput(tx, catalog, input, true);
    return record(tx, catalog, now, di, await decide(tx, catalog, now, di), true);
  });
}
