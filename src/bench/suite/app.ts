import { gatehouse } from '../../app/gatehouse.js';
import { connectorSource } from '../../connectors/registry.js';
import { CatalogCache } from '../../core/catalog/catalog.js';
import { systemClock } from '../../core/clock.js';
import type { Sql } from '../../core/sql.js';

/** The application on a store, as the CLI and the server build it, with no connector reachable. */
export function benchApp(sql: Sql) {
  return gatehouse({
    sql,
    clock: systemClock,
    catalog: new CatalogCache(),
    connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
    workerId: 'bench',
  });
}
