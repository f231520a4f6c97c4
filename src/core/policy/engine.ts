import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Entitlement, Identity, Policy } from '../model.js';
import { riskLevel } from '../model.js';

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

export interface PolicyAnswer {
  allowed: boolean;
  /** @id of every policy that determined the answer. */
  policies: string[];
  /** Policies that failed at run time (a missing attribute, say): Cedar skips them. */
  errors: string[];
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

/**
 * The policy set, parsed once per applied configuration and kept by Cedar under `key`; each call
 * passes only the three entities a decision needs.
 */
type Cedar = typeof cedar;
let loading: Promise<Cedar> | undefined;

/**
 * Cedar compiles its WebAssembly when imported, so it is imported when a policy set is first
 * prepared: commands that decide nothing (a list, `audit verify`) do not pay for it (ADR 0029).
 */
function loadCedar(): Promise<Cedar> {
  loading ??= import('@cedar-policy/cedar-wasm/nodejs');
  return loading;
}

export class PolicyEngine {
  private constructor(
    private readonly cedar: Cedar,
    private readonly key: string,
    readonly policies: ReadonlyMap<string, Policy>,
  ) {}

  static async prepare(key: string, policies: Policy[]): Promise<PolicyEngine> {
    const cedar = await loadCedar();
    const staticPolicies: Record<string, string> = {};
    for (const p of policies) staticPolicies[p.id] = p.text;
    const r = cedar.preparsePolicySet(key, { staticPolicies });
    if (r.type !== 'success') {
      throw new Error(
        `stored policy set does not parse: ${r.errors.map((e) => e.message).join('; ')}`,
      );
    }
    return new PolicyEngine(cedar, key, new Map(policies.map((p) => [p.id, p])));
  }

  authorize(
    action: PolicyAction,
    principal: Identity,
    entitlement: Entitlement,
    context: PolicyContext,
  ): PolicyAnswer {
    const answer = this.cedar.statefulIsAuthorized({
      principal: { type: 'Identity', id: principal.id },
      action: { type: 'Action', id: action },
      resource: { type: 'Entitlement', id: entitlement.id },
      context: { ...context },
      entities: [identityEntity(principal), ...entitlementEntities(entitlement)],
      preparsedPolicySetId: this.key,
    });
    if (answer.type !== 'success') {
      throw new Error(
        `policy evaluation failed: ${answer.errors.map((e) => e.message).join('; ')}`,
      );
    }
    const { decision, diagnostics } = answer.response;
    return {
      allowed: decision === 'allow',
      policies: diagnostics.reason,
      errors: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
    };
  }

  /** The message a determining policy gives: its @reason, else its id. */
  message(policyId: string): string {
    return this.policies.get(policyId)?.reason ?? policyId;
  }
}
