import type { Catalog } from '../catalog/catalog.js';
import { appOf } from '../catalog/catalog.js';
import type { App, Entitlement, Identity, StageRule } from '../model.js';
import { activeIdentities, findIdentity } from '../identities/queries.js';
import type { Sql } from '../sql.js';

export interface ResolvedStage {
  rule: string;
  approvers: string[];
  minApprovals: number;
  /** The rule resolved to nobody eligible, so the fallback group stands in. */
  fallback: boolean;
}

/**
 * What the decision facts already read about the possible approvers (ADR 0039), so a chain
 * resolves without further round trips: whom `checked` names was looked up, and is active if in
 * `active`. Anyone else is looked up as before.
 */
export interface KnownApprovers {
  /** The manager of a non-human beneficiary's owner ('' or null: none). */
  ownerManager: string | null;
  checked: Set<string>;
  active: Set<string>;
}

/** The people a stage rule names, before exclusions. */
async function candidates(
  sql: Sql,
  catalog: Catalog,
  rule: string,
  beneficiary: Identity,
  app: App,
  known: KnownApprovers | undefined,
): Promise<string[]> {
  if (rule === 'manager') {
    // A non-human identity has no manager of its own: its owner's manager approves.
    if (beneficiary.kind !== 'human' && known)
      return known.ownerManager ? [known.ownerManager] : [];
    const subject =
      beneficiary.kind === 'human' ? beneficiary : await findIdentity(sql, beneficiary.owner);
    return subject?.manager ? [subject.manager] : [];
  }
  if (rule === 'owner')
    return beneficiary.kind !== 'human' && beneficiary.owner ? [beneficiary.owner] : [];
  if (rule === 'app_owner') return app.owner ? [app.owner] : [];
  if (rule.startsWith('group:')) return catalog.groups.get(rule.slice(6)) ?? [];
  if (rule.startsWith('identity:')) return [rule.slice(9)];
  return [];
}

/**
 * Everyone a decision about `ent` could route to whom the catalog alone names (app owner, groups,
 * named identities, the fallback group), over its chain and the exception chains of the SoD rules
 * it is part of. `manager` and `owner` depend on the beneficiary, so the facts read them.
 */
export function catalogApprovers(catalog: Catalog, ent: Entitlement): string[] {
  const app = appOf(catalog, ent.app);
  const rules: StageRule[] = [
    ...(ent.approval ?? catalog.settings.chains[ent.risk] ?? []),
    ...catalog.sod
      .filter((r) => r.exception && r.conflict.some((set) => set.includes(ent.id)))
      .flatMap((r) => r.exception!.approvers),
  ];
  const ids = new Set(catalog.groups.get(catalog.settings.fallbackGroup) ?? []);
  for (const { rule } of rules) {
    if (rule === 'app_owner' && app.owner) ids.add(app.owner);
    else if (rule.startsWith('group:'))
      for (const id of catalog.groups.get(rule.slice(6)) ?? []) ids.add(id);
    else if (rule.startsWith('identity:')) ids.add(rule.slice(9));
  }
  return [...ids].sort();
}

/**
 * Resolves a chain to people. Nobody approves a request they made or that is for themselves, and
 * only active identities approve; a stage left with nobody goes to the fallback group, never to
 * "skip". A fallback group with nobody eligible leaves the stage unresolvable: it will lapse.
 */
export async function resolveChain(
  sql: Sql,
  catalog: Catalog,
  chain: StageRule[],
  ctx: { requester: string; beneficiary: Identity; app: App },
  known?: KnownApprovers,
): Promise<ResolvedStage[]> {
  const excluded = new Set([ctx.requester, ctx.beneficiary.id]);
  const fallbackGroup = catalog.groups.get(catalog.settings.fallbackGroup) ?? [];
  const named = await Promise.all(
    chain.map((s) => candidates(sql, catalog, s.rule, ctx.beneficiary, ctx.app, known)),
  );
  const everyone = [...new Set([...named.flat(), ...fallbackGroup])];
  // One look-up of who is active, for every stage and the fallback group together, of those the
  // facts did not already read.
  const unknown = known ? everyone.filter((id) => !known.checked.has(id)) : everyone;
  const active = await activeIdentities(sql, unknown);
  const isActive = (id: string) => active.has(id) || Boolean(known?.active.has(id));
  const eligible = (ids: string[]) =>
    [...new Set(ids)].filter((id) => !excluded.has(id) && isActive(id)).sort();
  const stages: ResolvedStage[] = [];
  for (const [i, s] of chain.entries()) {
    let approvers = eligible(named[i]!);
    let fallback = false;
    if (approvers.length < s.minApprovals) {
      approvers = eligible(fallbackGroup);
      fallback = true;
    }
    stages.push({ rule: s.rule, approvers, minApprovals: s.minApprovals, fallback });
  }
  return stages;
}
