import type { GrantSide } from './grants-side.js';
import type { Cell } from './merge.js';
import type { ConnectorFindingKind as FindingKind } from './settings.js';

/** What the merge found wrong with one (target, account) pair. */
export interface Finding {
  kind: FindingKind;
  account: string;
  target: Record<string, string>;
  /** The identity the account belongs to; null when no identity maps to it. */
  identity: string | null;
  /** The grant's entitlement, or for access without a grant the target's (first) entitlement. */
  entitlement: string | null;
  /** The grant the finding concerns, if any. */
  grant: GrantSide | null;
}

/** The identity an account maps to, for access held without any grant. */
export interface Holder {
  id: string;
  status: string;
}

/** Whether the finding for this cell depends on who holds the account (it has no grant). */
export const needsHolder = (c: Cell) => c.present && c.grants.length === 0;

/**
 * PRODUCT.md section 6, for one pair. In the target: a revocation in flight is not drift; a
 * revocation that failed, or a revoked grant whose access is back, is `revocation_failed`; access
 * of a terminated or unknown identity is `orphaned`; access with no grant at all is `unmanaged`.
 * Not in the target: an active grant is `missing` (one finding per grant). A grant still
 * provisioning or being revoked is the job queue's business, not drift.
 */
export function classify(
  cell: Cell,
  entitlements: readonly string[],
  holder?: Holder | null,
): Finding[] {
  const base = { account: cell.account, target: cell.target };
  const about = (kind: FindingKind, g: GrantSide): Finding => ({
    ...base,
    kind,
    identity: g.identity,
    entitlement: g.entitlement,
    grant: g,
  });
  const gone = (status: string | null | undefined) => status == null || status === 'terminated';
  if (!cell.present)
    return cell.grants.filter((g) => g.state === 'active').map((g) => about('missing', g));
  if (cell.grants.some((g) => g.state === 'revoking')) return [];
  const failed = cell.grants.find((g) => g.state === 'revoke_failed');
  if (failed) return [about('revocation_failed', failed)];
  const live = cell.grants.find((g) => g.state === 'active' || g.state === 'provisioning');
  if (live) return gone(live.identity_status) ? [about('orphaned', live)] : [];
  const revoked = cell.grants.find((g) => g.state === 'revoked');
  if (revoked) return [about('revocation_failed', revoked)];
  return [
    {
      ...base,
      kind: gone(holder?.status) ? 'orphaned' : 'unmanaged',
      identity: holder?.id ?? null,
      entitlement: entitlements[0] ?? null,
      grant: null,
    },
  ];
}
