/**
 * What a policy set can observe of a request, read from each policy's JSON form (Cedar's EST), so
 * the engine passes Cedar only that (ADR 0053). Cedar turns every attribute and context value it
 * is given into a value before evaluating anything (about 3 µs each in cedar-wasm), and evaluates
 * every policy of the set whatever the action (about 2 µs each): both are most of a call.
 *
 * Both reductions are exact. A policy reads an entity attribute or a context field only by name
 * (`.name`, `["name"]`, `has name`), so a value whose name no policy writes cannot change an
 * answer; and a policy whose scope excludes the action or the resource is not satisfied without
 * its conditions being evaluated, so it can neither determine the answer nor add an error.
 */

/** One policy in Cedar's JSON form, as `policyToJson` returns it; only the parts read here are typed. */
export interface PolicyJson {
  principal: { op: string };
  action: { op: string; entity?: Uid; entities?: Uid[] };
  resource: { op: string; entity?: Uid };
  conditions: unknown[];
}

interface Uid {
  type: string;
  id: string;
}

export interface PolicyReads {
  /** Every attribute name any policy reads, of any entity or of the context. */
  names: Set<string>;
  /** Some policy uses `context` as a whole (`context == {…}`): then every field is passed. */
  wholeContext: boolean;
  /** A policy whose JSON form was not to be had: then every attribute is passed. */
  allAttributes: boolean;
  /**
   * Some policy can tell one principal from another with the same attributes: its scope names
   * one (`principal == Identity::"x"`, `in`, `is`), or a condition uses `principal` as a value
   * (`principal == …`, `principal in …`) rather than reading its attributes.
   */
  principalIdentity: boolean;
}

export function emptyReads(): PolicyReads {
  return { names: new Set(), wholeContext: false, allAttributes: false, principalIdentity: false };
}

/** Adds what one policy reads to `into`. */
export function addReads(policy: PolicyJson, into: PolicyReads): void {
  if (policy.principal.op !== 'All') into.principalIdentity = true;
  for (const c of policy.conditions) walk(c, into, false);
}

function walk(node: unknown, into: PolicyReads, readByName: boolean): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, into, false);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.Var === 'context' && !readByName) into.wholeContext = true;
  if (o.Var === 'principal' && !readByName) into.principalIdentity = true;
  for (const [k, v] of Object.entries(o)) {
    if ((k === '.' || k === 'has') && v !== null && typeof v === 'object') {
      const access = v as { left?: unknown; attr?: unknown };
      if (typeof access.attr === 'string') into.names.add(access.attr);
      walk(access.left, into, true);
      continue;
    }
    walk(v, into, false);
  }
}

/**
 * Whether the policy's action scope can admit `action`. Gatehouse passes no action entities, so
 * an action has no groups and `in` admits only the actions it names.
 */
export function admitsAction(policy: PolicyJson, action: string): boolean {
  const a = policy.action;
  if (a.op === '==' || (a.op === 'in' && a.entity))
    return a.entity?.type === 'Action' && a.entity.id === action;
  if (a.op === 'in' && a.entities)
    return a.entities.some((e) => e.type === 'Action' && e.id === action);
  return true;
}

/**
 * Whether the policy's resource scope can admit an entitlement of `app`. The resource is always
 * an entitlement whose one parent is its app, so `in App::"x"` admits only x's entitlements and
 * `==`/`in Entitlement::"y"` only y; any other scope is kept.
 */
export function admitsResource(policy: PolicyJson, entitlement: string, app: string): boolean {
  const r = policy.resource;
  const e = r.entity;
  if ((r.op === '==' || r.op === 'in') && e?.type === 'Entitlement') return e.id === entitlement;
  if (r.op === 'in' && e?.type === 'App') return e.id === app;
  return true;
}

/** Whether the policy's resource scope names an entitlement (then sets are kept per entitlement). */
export function namesEntitlement(policy: PolicyJson): boolean {
  return policy.resource.entity?.type === 'Entitlement';
}

/** The fields of `values` that some policy reads, in their order. */
export function readFields<T>(
  values: Record<string, T>,
  reads: PolicyReads,
  whole = false,
): Record<string, T> {
  if (whole) return values;
  const out: Record<string, T> = {};
  for (const k of Object.keys(values)) if (reads.names.has(k)) out[k] = values[k]!;
  return out;
}
