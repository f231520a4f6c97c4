import type { Catalog } from '../catalog/catalog.js';
import { activeIdentities } from '../identities/queries.js';
import type { Sql } from '../sql.js';

/**
 * The approvers of a stage as it becomes pending. Whoever approved an earlier stage of the
 * request is no longer eligible: one person is one pair of eyes. A stage left with too few goes
 * to the fallback group (less those same people), as at routing; with nobody, it lapses.
 */
export async function rerouteStage(
  tx: Sql,
  catalog: Catalog,
  r: { id: string; requester: string; beneficiary: string },
  stage: { approvers: string[]; min_approvals: number; fallback: boolean },
): Promise<{ approvers: string[]; fallback: boolean }> {
  const acted = new Set(
    (
      await tx.query<{ approver: string }>(
        `SELECT approver FROM approvals WHERE request_id = $1 AND verdict = 'approve'`,
        [r.id],
      )
    ).map((x) => x.approver),
  );
  const remaining = stage.approvers.filter((p) => !acted.has(p));
  if (remaining.length >= stage.min_approvals)
    return { approvers: remaining, fallback: stage.fallback };
  const group = catalog.groups.get(catalog.settings.fallbackGroup) ?? [];
  const active = await activeIdentities(tx, group);
  const approvers = [...new Set(group)]
    .filter((p) => active.has(p) && !acted.has(p) && p !== r.requester && p !== r.beneficiary)
    .sort();
  return { approvers, fallback: true };
}
