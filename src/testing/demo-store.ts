import { join } from 'node:path';
import { applyConfig } from '../core/catalog/apply.js';
import { type Catalog, CatalogCache } from '../core/catalog/catalog.js';
import { syncIdentities } from '../core/lifecycle/sync.js';
import type { Sql } from '../core/sql.js';
import { loadConfigDir } from '../config/load.js';
import type { GovernanceConfig } from '../core/model.js';
import { loadSnapshot } from '../config/snapshot.js';
import { DEMO_CONFIG, DEMO_PEOPLE } from '../demo/seed.js';

/**
 * The demo organisation on a fresh store, as the core's tests start from it: its configuration
 * applied (changed first by `edit`, if given) and its people synced at `at`; with `nonHuman`,
 * its service accounts and agents too. Returns the catalog as applied.
 */
export async function seedDemo(
  sql: Sql,
  at: Date,
  opts: { edit?: (c: GovernanceConfig) => GovernanceConfig; nonHuman?: boolean } = {},
): Promise<Catalog> {
  const { config } = await loadConfigDir(DEMO_CONFIG);
  await applyConfig(sql, opts.edit ? opts.edit(config) : config, at, 'test', false);
  const catalog = await new CatalogCache().get(sql);
  await syncIdentities(sql, catalog, at, 'test', await loadSnapshot(DEMO_PEOPLE), ['human']);
  if (opts.nonHuman)
    await syncIdentities(
      sql,
      catalog,
      at,
      'test',
      await loadSnapshot(join(DEMO_CONFIG, 'identities.csv')),
      ['service_account', 'ai_agent'],
    );
  return catalog;
}
