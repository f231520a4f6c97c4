import type { Catalog } from '../catalog/catalog.js';
import { appOf } from '../catalog/catalog.js';
import { formatDuration } from '../duration.js';
import type {
  Decision,
  Entitlement,
  Identity,
  Reason,
  RequestStatus,
  SodRule,
  StageRule,
  Via,
} from '../model.js';
import type { PolicyContext } from '../policy/engine.js';
import type { Sql } from '../sql.js';
import { type ResolvedStage, resolveChain } from '../approvals/resolve.js';
import { type DecisionFacts, loadFacts, lockSeatPool, seatPool, seatsUsed } from './inputs.js';
import { NotFoundError, StaleCatalogError } from '../errors.js';
import { sodViolations } from './sod.js';

export type RequestKind = 'access' | 'extend' | 'birthright';

export interface DecideInput {
  requester: string;
  beneficiary: Identity;
  entitlement: Entitlement;
  justification: string;
  /** Seconds; undefined takes the default, null asks for standing access. */
  duration: number | null | undefined;
  ticket: string | null;
  emergency: boolean;
  kind: RequestKind;
  /** How the requester was established; absent for Gatehouse's own (birthright) requests. */
  via?: Via;
  /** For extend: the grant whose expiry would move. */
  grant?: {
    id: string;
    expiresAt: Date | null;
    /** Verified activation: an extension's lifetime is counted from here. */
    grantedAt: Date | null;
    state: string;
    identity: string;
    entitlement: string;
  };
  /** For birthright: the rule's index. */
  birthrightRule?: number;
  /** Read with the beneficiary when the caller already had to (request, extend); else loaded here. */
  facts?: DecisionFacts;
  /**
   * The pending request being decided again at its final approval: its own pending entry is not
   * a duplicate of itself.
   */
  recheckOf?: string;
}

export interface DecisionPlan {
  status: Extract<RequestStatus, 'approved' | 'pending_approval' | 'rejected'>;
  decision: Decision;
  /** Effective duration in seconds; null = standing. */
  duration: number | null;
  stages: ResolvedStage[];
  sodException: SodRule | null;
}

const MIN_JUSTIFICATION = 10;

/** A justification must say something: ten characters and two words at least. */
function trivial(text: string): boolean {
  const t = text.trim();
  return t.length < MIN_JUSTIFICATION || t.split(/\s+/).length < 2;
}

/**
 * The decision procedure of PRODUCT.md section 3, steps 1–6 (and 7 for break-glass). It only
 * reads: `request` writes the plan, `explain` prints it.
 */
export async function decide(
  sql: Sql,
  catalog: Catalog,
  now: Date,
  input: DecideInput,
): Promise<DecisionPlan> {
  const { beneficiary: who, entitlement: ent } = input;
  const app = appOf(catalog, ent.app);
  const settings = catalog.settings;
  const facts =
    input.facts ??
    (
      await loadFacts(sql, {
        beneficiary: who.id,
        requester: input.requester,
        entitlement: ent.id,
        lock: false,
        catalog,
      })
    )?.facts;
  if (!facts) throw new NotFoundError(`unknown identity "${who.id}"`, { field: 'beneficiary' });
  // The facts say which configuration is in force; deciding on another would be wrong.
  if (facts.configHash !== catalog.hash) throw new StaleCatalogError();
  const fit = facts.fit;
  let duration: number | null = input.duration === undefined ? ent.defaultDuration : input.duration;
  const inputs: Record<string, unknown> = {
    requester: input.requester,
    beneficiary: {
      id: who.id,
      kind: who.kind,
      status: who.status,
      department: who.department,
      title: who.title,
    },
    entitlement: { id: ent.id, app: ent.app, risk: ent.risk, privileged: ent.privileged },
    requested_duration:
      input.duration === undefined
        ? 'default'
        : input.duration === null
          ? 'standing'
          : formatDuration(input.duration),
    ticket: input.ticket,
    emergency: input.emergency,
    kind: input.kind,
    role_fit: fit.score,
  };
  const plan = (
    status: DecisionPlan['status'],
    outcome: Decision['outcome'],
    reasons: Reason[],
    extra: Partial<DecisionPlan> = {},
  ): DecisionPlan => ({
    status,
    decision: {
      outcome,
      reasons,
      role_fit: fit.score,
      role_fit_explanation: fit.explanation,
      decided_at: now.toISOString(),
      inputs: { ...inputs, duration: duration === null ? 'standing' : formatDuration(duration) },
    },
    duration,
    stages: [],
    sodException: null,
    ...extra,
  });
  const reject = (code: string, message: string, policy?: string) =>
    plan('rejected', 'rejected', [{ code, message, ...(policy ? { policy } : {}) }]);

  // 1. Well-formed.
  if (who.status !== 'active') return reject('identity_inactive', `${who.id} is ${who.status}`);
  // Submission refuses an inactive requester outright; this catches one who left while waiting.
  if (facts.requesterStatus !== null && facts.requesterStatus !== 'active') {
    return reject('requester_inactive', `requester ${input.requester} is ${facts.requesterStatus}`);
  }
  if (who.kind !== 'human') {
    if (facts.ownerStatus !== 'active') {
      return reject(
        'owner_missing',
        who.owner ? `owner ${who.owner} of ${who.id} is not active` : `${who.id} has no owner`,
      );
    }
  }
  if (!ent.kinds.includes(who.kind)) {
    return reject(
      'kind_not_allowed',
      `${ent.id} may be held by ${ent.kinds.join(', ')}, not ${who.kind}`,
    );
  }
  if (input.kind !== 'birthright' && trivial(input.justification)) {
    return reject(
      'justification_required',
      `a justification of at least ${MIN_JUSTIFICATION} characters and two words is required`,
    );
  }
  if (ent.requiresTicket && !input.ticket)
    return reject(
      'ticket_required',
      `${ent.id} requires a ticket reference (SYSTEM:KEY, e.g. JIRA:ITSM-42)`,
    );
  if (input.emergency && !ent.breakGlass)
    return reject('break_glass_not_allowed', `${ent.id} does not allow break-glass access`);
  if (duration === null && !ent.standing) {
    return reject(
      'duration_exceeds_max',
      `${ent.id} does not allow standing access; ask for a duration`,
    );
  }
  if (input.emergency)
    duration = Math.min(duration ?? settings.emergencyMaxDuration, settings.emergencyMaxDuration);
  // An extension moves the expiry by `duration`; the cap applies to what would then remain.
  const span =
    input.kind === 'extend' && input.grant?.expiresAt && duration !== null
      ? Math.max(0, (input.grant.expiresAt.getTime() - now.getTime()) / 1000) + duration
      : duration;
  if (span !== null && ent.maxDuration !== null && span > ent.maxDuration) {
    return reject(
      'duration_exceeds_max',
      `${formatDuration(Math.round(span))}${input.kind === 'extend' ? ' of remaining access' : ''} exceeds the maximum of ${formatDuration(ent.maxDuration)} for ${ent.id}`,
    );
  }
  const held = facts.held;
  if (input.kind === 'extend') {
    if (!input.grant || input.grant.state !== 'active') {
      return reject(
        'not_extendable',
        `grant ${input.grant?.id ?? '?'} is ${input.grant?.state ?? 'unknown'}, not active`,
      );
    }
    if (input.grant.expiresAt === null)
      return reject(
        'not_extendable',
        `grant ${input.grant.id} is standing and has no expiry to move`,
      );
    // One extension at a time: two pending ones would each pass the cap and together exceed it.
    const [pendingExtension] = await sql.query<{ id: string }>(
      `SELECT id FROM requests WHERE extends_grant = $1 AND status = 'pending_approval' AND id <> $2`,
      [input.grant.id, input.recheckOf ?? ''],
    );
    if (pendingExtension) {
      return reject(
        'duplicate',
        `grant ${input.grant.id} already has a pending extension (${pendingExtension.id})`,
      );
    }
  } else {
    const grantId = held.grants.get(ent.id);
    if (grantId) {
      return reject(
        'duplicate',
        `${who.id} already holds ${ent.id} (grant ${grantId}); to get more time, extend grant ${grantId}`,
      );
    }
    const pendingId = held.pending.get(ent.id);
    if (pendingId && pendingId !== input.recheckOf)
      return reject(
        'duplicate',
        `${who.id} already has a pending request for ${ent.id} (${pendingId})`,
      );
  }

  // 2. Eligibility.
  // How long the grant would have lived, from verified activation, once this is granted: an
  // extension adds to what the grant has had, so a chain of them cannot pass for short access.
  const lifetime =
    duration === null
      ? null
      : input.kind === 'extend' && input.grant?.expiresAt && input.grant.grantedAt
        ? (input.grant.expiresAt.getTime() - input.grant.grantedAt.getTime()) / 1000 + duration
        : duration;
  inputs.lifetime = lifetime === null ? 'standing' : formatDuration(Math.round(lifetime));
  const context: PolicyContext = {
    duration_hours: duration === null ? 0 : Math.ceil(duration / 3600),
    extension: input.kind === 'extend',
    lifetime_hours: lifetime === null ? 0 : Math.ceil(lifetime / 3600),
    emergency: input.emergency,
    ticket: Boolean(input.ticket),
    role_fit: fit.score,
    requester_is_beneficiary: input.requester === who.id,
  };
  if (input.kind !== 'birthright') {
    const eligible = catalog.policy.authorize('request', who, ent, context);
    // A policy that errors (a missing attribute, say) is skipped by Cedar; the record says so.
    if (eligible.errors.length > 0) inputs.policy_errors = eligible.errors;
    if (!eligible.allowed) {
      const forbid = eligible.policies[0];
      return forbid
        ? reject('forbidden_by_policy', catalog.policy.message(forbid), forbid)
        : reject('not_eligible', `no policy permits ${who.id} to request ${ent.id}`);
    }
  }

  // 3. Segregation of duties.
  const others = new Set([...held.grants.keys(), ...held.pending.keys()]);
  others.delete(ent.id);
  let sodException: SodRule | null = null;
  for (const v of sodViolations(catalog.sod, others, ent.id)) {
    if (v.rule.onConflict === 'block') {
      return reject(
        'sod_conflict',
        `${v.rule.id}: ${v.rule.description} (conflicts with ${v.with.join(', ')})`,
        v.rule.id,
      );
    }
    sodException ??= v.rule;
  }
  // An exception is temporary by nature: it caps even a request for standing access.
  if (sodException?.exception) {
    duration = Math.min(duration ?? Infinity, sodException.exception.maxDuration);
  }

  // 4. Licence fit. An extension keeps the seat it already has.
  if (ent.licenceTier && input.kind !== 'extend') {
    const seats = app.licenceSeats[ent.licenceTier] ?? 0;
    // A dry run read the count with its facts: it takes no seat, so no lock orders it.
    const pool = seatPool(app.id, ent.licenceTier);
    let used: number;
    if (facts.seats?.pool === pool) used = facts.seats.used;
    else {
      await lockSeatPool(sql, app.id, ent.licenceTier);
      used = await seatsUsed(sql, app.id, ent.licenceTier);
    }
    if (used >= seats) {
      const lesser = await lesserWithSeats(sql, catalog, ent);
      return reject(
        'no_licence_seat',
        `no free ${ent.licenceTier} seat for ${app.id} (${used} of ${seats} in use)${lesser ? `; ${lesser} has capacity` : ''}`,
      );
    }
  }

  // 7 before 5: break-glass and birthright are approved by rule, not by the auto-approve policies.
  if (input.emergency) {
    return plan('approved', 'auto_approved', [
      {
        code: 'break_glass',
        message: `emergency access, capped at ${formatDuration(duration!)}; post-event review due within ${formatDuration(settings.emergencyReviewWithin)}`,
      },
      ...sodNote(sodException),
    ]);
  }
  if (input.kind === 'birthright') {
    return plan('approved', 'auto_approved', [
      {
        code: 'birthright',
        policy: `birthright[${input.birthrightRule ?? 0}]`,
        message: "baseline access for this identity's attributes",
      },
    ]);
  }

  // 5. Auto-approval.
  const auto = catalog.policy.authorize('auto_approve', who, ent, context);
  if (auto.errors.length > 0)
    inputs.policy_errors = [...((inputs.policy_errors as string[]) ?? []), ...auto.errors];
  // Automatic approval never carries a grant past max_duration from activation; a human may.
  const pastMax =
    input.kind === 'extend' &&
    lifetime !== null &&
    ent.maxDuration !== null &&
    lifetime > ent.maxDuration;
  if (auto.allowed && !sodException && !ent.privileged && !pastMax) {
    return plan(
      'approved',
      'auto_approved',
      auto.policies.map((p) => ({
        code: 'auto_approved',
        policy: p,
        message: catalog.policy.message(p),
      })),
    );
  }

  // 6. Approval routing.
  const chain: StageRule[] = ent.approval ?? settings.chains[ent.risk];
  const route = { requester: input.requester, beneficiary: who, app };
  const stages = await resolveChain(sql, catalog, chain, route, facts.approvers);
  if (sodException?.exception) {
    const extra = await resolveChain(
      sql,
      catalog,
      sodException.exception.approvers,
      route,
      facts.approvers,
    );
    stages.push(
      ...extra.map((s) => ({ ...s, rule: `sod_exception:${sodException!.id}:${s.rule}` })),
    );
  }
  const reasons: Reason[] = [
    {
      code: 'approval_required',
      message: `needs approval: ${stages.map((s) => s.rule).join(' → ')}${ent.privileged ? ' (privileged entitlement)' : ''}`,
    },
    ...sodNote(sodException),
    ...(pastMax && auto.allowed
      ? [
          {
            code: 'lifetime_exceeds_max',
            message: `the grant would live ${formatDuration(Math.round(lifetime!))} from activation, beyond the ${formatDuration(ent.maxDuration!)} maximum for ${ent.id}; only an approver may extend it that far`,
          },
        ]
      : []),
  ];
  return plan('pending_approval', 'needs_approval', reasons, { stages, sodException });
}

function sodNote(rule: SodRule | null): Reason[] {
  if (!rule) return [];
  return [
    {
      code: 'sod_exception_required',
      policy: rule.id,
      message: `${rule.id}: ${rule.description}; an exception approval is required and the duration is capped at ${formatDuration(rule.exception?.maxDuration ?? 0)}`,
    },
  ];
}

/** A lower-risk entitlement of the same app with a free seat (or needing none), to suggest instead. */
async function lesserWithSeats(
  sql: Sql,
  catalog: Catalog,
  ent: Entitlement,
): Promise<string | undefined> {
  const app = appOf(catalog, ent.app);
  const order = ['low', 'medium', 'high', 'critical'];
  const candidates = [...catalog.entitlements.values()]
    .filter(
      (e) =>
        e.app === ent.app && e.id !== ent.id && order.indexOf(e.risk) <= order.indexOf(ent.risk),
    )
    .sort((a, b) => order.indexOf(b.risk) - order.indexOf(a.risk));
  for (const c of candidates) {
    if (!c.licenceTier) return c.id;
    if ((await seatsUsed(sql, app.id, c.licenceTier)) < (app.licenceSeats[c.licenceTier] ?? 0))
      return c.id;
  }
  return undefined;
}
