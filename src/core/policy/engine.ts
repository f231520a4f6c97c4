import { createHash } from 'node:crypto';
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Entitlement, Identity, Policy } from '../model.js';
import { riskLevel } from '../model.js';
import type { PolicyJson, PolicyReads } from './reads.js';
import {
  addReads,
  admitsAction,
  admitsResource,
  emptyReads,
  namesEntitlement,
  readFields,
} from './reads.js';

export type PolicyAction = 'request' | 'auto_approve';

export interface PolicyContext {
  duration_hours: number;
  /** The request extends a grant already held. */
  extension: boolean;
  /** The grant's whole lifetime from verified activation, this request included; 0 for standing. */
  lifetime_hours: number;
  emergency: boolean;
  ticket: boolean;
  role_fit: number;
  requester_is_beneficiary: boolean;
}

/**
 * The context for re-checking access someone already holds (mover, configuration impact): what
 * matters is whether they may hold it at all, so request-time facts are neutral.
 */
export const RECHECK_CONTEXT: PolicyContext = {
  duration_hours: 0,
  extension: false,
  lifetime_hours: 0,
  emergency: false,
  ticket: true,
  role_fit: 0,
  requester_is_beneficiary: false,
};

/** Shared by every call given the same values (ADR 0056): read, never changed. */
export interface PolicyAnswer {
  readonly allowed: boolean;
  /** @id of every policy that determined the answer. */
  readonly policies: readonly string[];
  /** Policies that failed at run time (a missing attribute, say): Cedar skips them. */
  readonly errors: readonly string[];
}

/** Attributes every identity entity has, so `principal.employment_type == …` never errors on absence. */
const BASE_ATTRIBUTES = ['department', 'title', 'manager', 'owner', 'location', 'employment_type'];

export function identityEntity(i: Identity): cedar.EntityJson {
  const attrs: Record<string, cedar.CedarValueJson> = {};
  for (const k of BASE_ATTRIBUTES) attrs[k] = '';
  Object.assign(attrs, i.attributes, {
    department: i.department,
    title: i.title,
    manager: i.manager,
    owner: i.owner,
    kind: i.kind,
    status: i.status,
  });
  return { uid: { type: 'Identity', id: i.id }, attrs, parents: [] };
}

export function entitlementEntities(e: Entitlement): cedar.EntityJson[] {
  return [
    {
      uid: { type: 'Entitlement', id: e.id },
      attrs: { app: e.app, risk: riskLevel(e.risk), privileged: e.privileged },
      parents: [{ type: 'App', id: e.app }],
    },
    { uid: { type: 'App', id: e.app }, attrs: {}, parents: [] },
  ];
}

type Cedar = typeof cedar;

/**
 * Answers an engine keeps. A key is the handful of values the policies read: an organisation's
 * departments, kinds and employment types by its entitlements and a few durations and fits make
 * thousands, not millions; past this the oldest go.
 */
const ANSWERS_KEPT = 10_000;
let loading: Promise<Cedar> | undefined;

/**
 * Cedar compiles its WebAssembly when imported, so it is imported when a policy set is first
 * prepared: commands that decide nothing (a list, `audit verify`) do not pay for it (ADR 0029).
 */
function loadCedar(): Promise<Cedar> {
  loading ??= import('@cedar-policy/cedar-wasm/nodejs');
  return loading;
}

/** One policy with its JSON form; undefined where Cedar gave none (then it is kept everywhere). */
interface Scoped {
  policy: Policy;
  json: PolicyJson | undefined;
}

/**
 * The policy set of an applied configuration, checked once. Each call goes to a set kept by
 * Cedar holding only the policies whose scope admits its action and its entitlement, parsed when
 * first asked for, and passes the three entities a decision needs with only the attributes and
 * context fields some policy reads (ADR 0053).
 */
export class PolicyEngine {
  private readonly sets = new Map<string, string>();
  /** Answers by what Cedar was passed, oldest first. */
  private readonly answers = new Map<string, PolicyAnswer>();

  private constructor(
    private readonly cedar: Cedar,
    readonly policies: ReadonlyMap<string, Policy>,
    private readonly scoped: readonly Scoped[],
    private readonly reads: PolicyReads,
    private readonly perEntitlement: boolean,
  ) {}

  static async prepare(policies: Policy[]): Promise<PolicyEngine> {
    const cedar = await loadCedar();
    const staticPolicies: Record<string, string> = {};
    for (const p of policies) staticPolicies[p.id] = p.text;
    // Checked whole, not kept: calls go to the sets of setFor, and Cedar never frees a set.
    const all = cedar.checkParsePolicySet({ staticPolicies });
    if (all.type !== 'success') {
      throw new Error(
        `stored policy set does not parse: ${all.errors.map((e) => e.message).join('; ')}`,
      );
    }
    const reads = emptyReads();
    const scoped = policies.map((policy): Scoped => {
      const r = cedar.policyToJson(policy.text);
      const json = r.type === 'success' ? (r.json as unknown as PolicyJson) : undefined;
      // A set that parsed has a JSON form; were one missing, passing everything stays exact.
      if (json) addReads(json, reads);
      else reads.wholeContext = reads.allAttributes = reads.principalIdentity = true;
      return { policy, json };
    });
    const perEntitlement = scoped.some((s) => s.json && namesEntitlement(s.json));
    return new PolicyEngine(
      cedar,
      new Map(policies.map((p) => [p.id, p])),
      scoped,
      reads,
      perEntitlement,
    );
  }

  /** The id of the set Cedar holds for this action and entitlement, parsed on first use. */
  private setFor(action: PolicyAction, e: Entitlement): string {
    const scope = `${action} ${this.perEntitlement ? e.id : e.app}`;
    const known = this.sets.get(scope);
    if (known) return known;
    const staticPolicies: Record<string, string> = {};
    for (const { policy, json } of this.scoped) {
      if (!json || (admitsAction(json, action) && admitsResource(json, e.id, e.app)))
        staticPolicies[policy.id] = policy.text;
    }
    // Named by content: Cedar keeps every set it is given for the life of the process, so sets
    // alike (most apps' are) and engines of the same configuration share one.
    const id = `policies/${createHash('sha256').update(JSON.stringify(staticPolicies)).digest('base64url')}`;
    const r = this.cedar.preparsePolicySet(id, { staticPolicies });
    if (r.type !== 'success') throw new Error(`the policies for ${scope} do not parse`);
    this.sets.set(scope, id);
    return id;
  }

  /**
   * Cedar's answer for the call, from the answers already given where Cedar was passed the same
   * values (ADR 0056). What Cedar is passed is a function of the action's set, the entitlement,
   * the values some policy reads and, where a policy can tell principals apart, the principal's
   * id; evaluation is deterministic, so a call passed what an earlier one was gets its answer.
   * An answer with errors is never kept: Cedar's messages may name the entity they concern.
   */
  authorize(
    action: PolicyAction,
    principal: Identity,
    entitlement: Entitlement,
    context: PolicyContext,
  ): PolicyAnswer {
    const request = this.request(action, principal, entitlement, context);
    const key = JSON.stringify([
      request.preparsedPolicySetId,
      this.reads.principalIdentity ? principal.id : '',
      entitlement.id,
      request.context,
      request.entities.map((e) => e.attrs),
    ]);
    const known = this.answers.get(key);
    if (known) return known;
    const answer = this.evaluate(request);
    if (answer.errors.length === 0) {
      if (this.answers.size >= ANSWERS_KEPT) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(key, answer);
    }
    return answer;
  }

  /** What Cedar is passed for the call: only the fields some policy reads (ADR 0053). */
  private request(
    action: PolicyAction,
    principal: Identity,
    entitlement: Entitlement,
    context: PolicyContext,
  ): cedar.StatefulAuthorizationCall {
    return {
      principal: { type: 'Identity', id: principal.id },
      action: { type: 'Action', id: action },
      resource: { type: 'Entitlement', id: entitlement.id },
      context: readFields({ ...context }, this.reads, this.reads.wholeContext),
      entities: [identityEntity(principal), ...entitlementEntities(entitlement)].map((e) => ({
        ...e,
        attrs: readFields(e.attrs, this.reads, this.reads.allAttributes),
      })),
      preparsedPolicySetId: this.setFor(action, entitlement),
    };
  }

  private evaluate(request: cedar.StatefulAuthorizationCall): PolicyAnswer {
    const answer = this.cedar.statefulIsAuthorized(request);
    if (answer.type !== 'success') {
      throw new Error(
        `policy evaluation failed: ${answer.errors.map((e) => e.message).join('; ')}`,
      );
    }
    const { decision, diagnostics } = answer.response;
    return Object.freeze({
      allowed: decision === 'allow',
      policies: Object.freeze(diagnostics.reason),
      errors: Object.freeze(diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`)),
    });
  }

  /** The message a determining policy gives: its @reason, else its id. */
  message(policyId: string): string {
    return this.policies.get(policyId)?.reason ?? policyId;
  }
}
