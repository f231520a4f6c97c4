import { InputError, NotFoundError } from '../errors.js';
import type {
  App,
  BirthrightRule,
  ConnectorConfig,
  Entitlement,
  Settings,
  SodRule,
} from '../model.js';
import { DEFAULT_SETTINGS } from '../model.js';
import { PolicyEngine } from '../policy/engine.js';
import type { Sql } from '../sql.js';
import { toApp, toBirthright, toConnector, toEntitlement, toPolicy, toSodRule } from './rows.js';

/**
 * Everything that changes only when a configuration is applied, read once per apply and shared
 * by every decision: entitlements, apps, SoD rules, groups, the prepared policy set.
 */
export interface Catalog {
  hash: string;
  settings: Settings;
  apps: Map<string, App>;
  entitlements: Map<string, Entitlement>;
  sod: SodRule[];
  birthright: BirthrightRule[];
  groups: Map<string, string[]>;
  connectors: Map<string, ConnectorConfig>;
  policy: PolicyEngine;
}

export class CatalogCache {
  private current: Catalog | undefined;

  /** The catalog of the configuration in force; one indexed read when nothing changed. */
  async get(sql: Sql): Promise<Catalog> {
    const [state] = await sql.query<{ config_hash: string }>(
      'SELECT config_hash FROM config_state WHERE id = 1',
    );
    const hash = state?.config_hash ?? 'empty';
    if (this.current?.hash === hash) return this.current;
    this.current = await loadCatalog(sql, hash);
    return this.current;
  }

  /** The cached catalog without asking the store; decisions verify its hash in their own query. */
  peek(): Catalog | undefined {
    return this.current;
  }

  invalidate(): void {
    this.current = undefined;
  }
}

export async function loadCatalog(sql: Sql, hash: string): Promise<Catalog> {
  const [state] = await sql.query<{ settings: Settings }>(
    'SELECT settings FROM config_state WHERE id = 1',
  );
  const apps = (await sql.query('SELECT * FROM apps')).map(toApp);
  const ents = (await sql.query('SELECT * FROM entitlements WHERE NOT retired')).map(toEntitlement);
  const sod = (await sql.query('SELECT * FROM sod_rules ORDER BY id')).map(toSodRule);
  const birthright = (await sql.query('SELECT * FROM birthright_rules ORDER BY idx')).map(
    toBirthright,
  );
  const members = await sql.query<{ id: string; member: string | null }>(
    'SELECT g.id, m.identity_id AS member FROM groups g LEFT JOIN group_members m ON m.group_id = g.id ORDER BY g.id, m.identity_id',
  );
  const groups = new Map<string, string[]>();
  for (const r of members) {
    const list = groups.get(r.id) ?? [];
    if (r.member) list.push(r.member);
    groups.set(r.id, list);
  }
  const connectors = (await sql.query('SELECT * FROM connectors')).map(toConnector);
  const policies = (await sql.query('SELECT * FROM policies ORDER BY id')).map(toPolicy);
  return {
    hash,
    // Settings stored by an older Gatehouse lack the fields added since: those take their defaults.
    settings: { ...DEFAULT_SETTINGS, ...state?.settings },
    apps: new Map(apps.map((a) => [a.id, a])),
    entitlements: new Map(ents.map((e) => [e.id, e])),
    sod,
    birthright,
    groups,
    connectors: new Map(connectors.map((c) => [c.name, c])),
    policy: await PolicyEngine.prepare(policies),
  };
}

export function entitlementOf(catalog: Catalog, id: string): Entitlement {
  const e = catalog.entitlements.get(id);
  if (!e) throw new NotFoundError(`unknown entitlement "${id}"`, { field: 'entitlement' });
  return e;
}

export function appOf(catalog: Catalog, id: string): App {
  const a = catalog.apps.get(id);
  if (!a) throw new InputError(`unknown application "${id}"`);
  return a;
}
