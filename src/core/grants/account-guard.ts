import type { App, ConnectorConfig, Entitlement } from '../model.js';

/**
 * An account is what a connector provisions for an identity: the identity's attribute named by the
 * connector's `account_attribute`, else the identity id (CONFIG.md). Two things go wrong when
 * accounts are not one-to-one with identities: two identities sharing an account break each
 * other's grants unseen, and an account that is itself a governed target role (PostgreSQL roles are
 * both) passes every grant it receives on to every member of that role.
 */

/** The account of an identity on a connector. */
export function accountOf(
  identity: { id: string; attributes: Record<string, string> },
  connector: Pick<ConnectorConfig, 'settings'> | undefined,
): string {
  const attr = connector?.settings.account_attribute;
  return (typeof attr === 'string' && attr !== '' && identity.attributes[attr]) || identity.id;
}

/** The target values (roles, groups) governed through `connector`, with the entitlement of each. */
export function governedTargets(
  connector: string,
  apps: Iterable<Pick<App, 'id' | 'connector'>>,
  entitlements: Iterable<Pick<Entitlement, 'id' | 'app' | 'target'>>,
): Map<string, string> {
  const onConnector = new Set<string>();
  for (const a of apps) if (a.connector === connector) onConnector.add(a.id);
  const out = new Map<string, string>();
  for (const e of entitlements) {
    if (!onConnector.has(e.app)) continue;
    for (const value of Object.values(e.target)) if (!out.has(value)) out.set(value, e.id);
  }
  return out;
}

export interface AccountCheck {
  identity: string;
  account: string;
  connector: string;
  /** governedTargets() of the connector. */
  governed: ReadonlyMap<string, string>;
  /** Other identities whose account on this connector is the same one. */
  sharers: readonly string[];
}

/**
 * Why provisioning `account` for `identity` must be refused, or undefined when it may go ahead.
 * Pure, so the worker calls it before a connector's apply, and validation uses the same rule.
 */
export function accountRefusal(c: AccountCheck): string | undefined {
  const entitlement = c.governed.get(c.account);
  if (entitlement !== undefined)
    return `the account "${c.account}" of ${c.identity} on connector ${c.connector} is itself the governed target of ${entitlement}; granting to it would pass the access on to every member`;
  const others = c.sharers.filter((s) => s !== c.identity);
  if (others.length > 0)
    return `${c.identity} and ${others.join(', ')} map to one account "${c.account}" on connector ${c.connector}; each account must belong to one identity`;
  return undefined;
}

/**
 * The statement listing the identities whose account on `connector` is `account` (the `sharers`
 * of accountRefusal), with accountOf's rule: the attribute when set and non-empty, else the id.
 */
export function sharersQuery(
  account: string,
  connector: Pick<ConnectorConfig, 'settings'> | undefined,
): { text: string; params: unknown[] } {
  const attr = connector?.settings.account_attribute;
  if (typeof attr !== 'string' || attr === '')
    return { text: 'SELECT id FROM identities WHERE id = $1', params: [account] };
  return {
    text: `SELECT id FROM identities WHERE COALESCE(NULLIF(attributes->>$2, ''), id) = $1 ORDER BY id`,
    params: [account, attr],
  };
}

export type AccountConflict =
  | { kind: 'shared'; connector: string; account: string; identities: [string, string] }
  | { kind: 'role'; connector: string; account: string; identity: string; entitlement: string };

/** Every account conflict of a whole configuration, in identity order, for validation. */
export function accountConflicts(
  identities: readonly { id: string; attributes: Record<string, string> }[],
  connectors: readonly ConnectorConfig[],
  apps: readonly Pick<App, 'id' | 'connector'>[],
  entitlements: readonly Pick<Entitlement, 'id' | 'app' | 'target'>[],
): AccountConflict[] {
  const out: AccountConflict[] = [];
  for (const connector of connectors) {
    if (!apps.some((a) => a.connector === connector.name)) continue;
    const governed = governedTargets(connector.name, apps, entitlements);
    const owner = new Map<string, string>();
    for (const identity of identities) {
      const account = accountOf(identity, connector);
      const first = owner.get(account);
      if (first !== undefined)
        out.push({
          kind: 'shared',
          connector: connector.name,
          account,
          identities: [first, identity.id],
        });
      else owner.set(account, identity.id);
      const entitlement = governed.get(account);
      if (entitlement !== undefined)
        out.push({
          kind: 'role',
          connector: connector.name,
          account,
          identity: identity.id,
          entitlement,
        });
    }
  }
  return out;
}
