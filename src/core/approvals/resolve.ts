import type { Catalog } from '../catalog/catalog.js';
import type { App, Identity, StageRule } from '../model.js';
import { activeIdentities, findIdentity } from '../identities/queries.js';
import type { Sql } from '../sql.js';

export interface ResolvedStage {
  rule: string;
  approvers: string[];
  minApprovals: number;
  /** The rule resolved to nobody eligible, so the fallback group stands in. */
  fallback: boolean;
}

/** The people a stage rule names, before exclusions. */
async function candidates(
  sql: Sql,
  catalog: Catalog,
  rule: string,
  beneficiary: Identity,
  app: App,
): Promise<string[]> {
  if (rule === 'manager') {
    // A non-human identity has no manager of its own: its owner's manager approves.
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
 * Resolves a chain to people. Nobody approves a request they made or that is for themselves, and
 * only active identities approve; a stage left with nobody goes to the fallback group, never to
 * "skip". A fallback group with nobody eligible leaves the stage unresolvable: it will lapse.
 */
export async function resolveChain(
  sql: Sql,
  catalog: Catalog,
  chain: StageRule[],
  ctx: { requester: string; beneficiary: Identity; app: App },
): Promise<ResolvedStage[]> {
  const excluded = new Set([ctx.requester, ctx.beneficiary.id]);
  const fallbackGroup = catalog.groups.get(catalog.settings.fallbackGroup) ?? [];
  const named = await Promise.all(
    chain.map((s) => candidates(sql, catalog, s.rule, ctx.beneficiary, ctx.app)),
  );
  // One look-up of who is active, for every stage and the fallback group together.
  const active = await activeIdentities(sql, [...new Set([...named.flat(), ...fallbackGroup])]);
  const eligible = (ids: string[]) =>
    [...new Set(ids)].filter((id) => !excluded.has(id) && active.has(id)).sort();
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
