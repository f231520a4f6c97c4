import { accountConflicts } from '../core/grants/account-guard.js';
import type { GovernanceConfig } from '../core/model.js';
import type { LoadContext } from './context.js';

type Parts = Pick<GovernanceConfig, 'identities' | 'connectors' | 'apps' | 'entitlements'>;

/**
 * Accounts must be one-to-one with identities on each connector, and none may be a governed
 * target role (core/grants/account-guard.ts). Reported at the identity's row in identities.csv;
 * identities that arrive by HR sync are checked again when provisioned.
 */
export function checkAccounts(parts: Parts, ctx: LoadContext): void {
  const place = (id: string) =>
    ctx.reg.identities.defined.get(id) ?? { file: 'identities.csv', line: 0 };
  for (const c of accountConflicts(
    parts.identities,
    parts.connectors,
    parts.apps,
    parts.entitlements,
  )) {
    if (c.kind === 'shared') {
      const [first, second] = c.identities;
      ctx.issues.error(
        place(second),
        `${second}: identities ${first} and ${second} map to one account "${c.account}" on connector ${c.connector}; each account must belong to one identity`,
      );
    } else {
      ctx.issues.error(
        place(c.identity),
        `${c.identity}: its account "${c.account}" on connector ${c.connector} is the target of ${c.entitlement}; an account must not be a governed role`,
      );
    }
  }
}
