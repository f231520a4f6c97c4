import { RECHECK_CONTEXT } from '../policy/engine.js';
import type { Catalog } from './catalog.js';
import { type IdentityRow, toIdentity } from './rows.js';
import { LIVE_STATES } from '../decision/inputs.js';
import { violatedRules } from '../decision/sod.js';
import type { Identity } from '../model.js';
import type { Sql } from '../sql.js';

export interface ImpactItem {
  grant: string;
  identity: string;
  entitlement: string;
  reason: string;
  rule?: string;
}

/**
 * The live grants a candidate configuration would no longer permit: policy changes are access
 * changes too. Reads live grants in keyset batches, so it scales with the grants, not memory.
 */
export async function grantImpact(
  sql: Sql,
  next: Catalog,
  identities: Map<string, Identity>,
): Promise<ImpactItem[]> {
  const out: ImpactItem[] = [];
  const heldBy = new Map<string, { grant: string; entitlement: string }[]>();
  let after = '';
  for (;;) {
    const batch = await sql.query<
      { id: string; identity: string; entitlement: string } & IdentityRow & { identity_id: string }
    >(
      `SELECT g.id, g.identity, g.entitlement, i.id AS identity_id, i.kind, i.status, i.display_name, i.department, i.title,
              i.manager, i.owner, i.attributes
         FROM grants g LEFT JOIN identities i ON i.id = g.identity
        WHERE g.state IN ${LIVE_STATES} AND g.id > $1 ORDER BY g.id LIMIT 2000`,
      [after],
    );
    if (batch.length === 0) break;
    after = batch.at(-1)!.id;
    for (const row of batch) {
      const item = (reason: string, rule?: string) =>
        out.push({
          grant: row.id,
          identity: row.identity,
          entitlement: row.entitlement,
          reason,
          ...(rule ? { rule } : {}),
        });
      const list = heldBy.get(row.identity) ?? [];
      list.push({ grant: row.id, entitlement: row.entitlement });
      heldBy.set(row.identity, list);
      const ent = next.entitlements.get(row.entitlement);
      if (!ent) {
        item('entitlement_removed');
        continue;
      }
      const who =
        identities.get(row.identity) ??
        (row.identity_id ? toIdentity({ ...row, id: row.identity_id }) : undefined);
      if (!who) continue;
      if (!ent.kinds.includes(who.kind)) {
        item('kind_not_allowed');
        continue;
      }
      const answer = next.policy.authorize('request', who, ent, RECHECK_CONTEXT);
      if (!answer.allowed) {
        if (answer.policies[0]) item('forbidden_by_policy', answer.policies[0]);
        else item('not_eligible');
      }
    }
  }
  for (const [identity, held] of heldBy) {
    const set = new Set(held.map((h) => h.entitlement));
    for (const rule of violatedRules(
      next.sod.filter((r) => r.onConflict === 'block'),
      set,
    )) {
      for (const h of held.filter((x) => rule.conflict.some((s) => s.includes(x.entitlement)))) {
        out.push({
          grant: h.grant,
          identity,
          entitlement: h.entitlement,
          reason: 'sod_conflict',
          rule: rule.id,
        });
      }
    }
  }
  const seats = await sql.query<{ app: string; tier: string; n: number | string }>(
    `SELECT g.app, e.licence_tier AS tier, count(*) AS n FROM grants g JOIN entitlements e ON e.id = g.entitlement
      WHERE g.state IN ${LIVE_STATES} AND e.licence_tier IS NOT NULL GROUP BY g.app, e.licence_tier`,
  );
  for (const s of seats) {
    const cap = next.apps.get(s.app)?.licenceSeats[s.tier];
    if (cap !== undefined && Number(s.n) > cap) {
      out.push({
        grant: '*',
        identity: '*',
        entitlement: `${s.app}/${s.tier}`,
        reason: 'licence_over_capacity',
        rule: `${s.n} seats in use, ${cap} allowed`,
      });
    }
  }
  return out;
}
