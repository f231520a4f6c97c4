import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { CatalogCache } from '../core/catalog/catalog.js';
import { type Clock, systemClock } from '../core/clock.js';
import { InputError, RefusedError } from '../core/errors.js';
import type { Sql } from '../core/sql.js';
import { connectorSource } from '../connectors/registry.js';
import { type Store, openStore, storeExists } from '../store/open.js';
import { type Gatehouse, gatehouse } from '../app/gatehouse.js';

export interface CliEnv {
  env: Record<string, string | undefined>;
  cwd: string;
}

export interface CliContext {
  app: Gatehouse;
  store: Store;
  close(): Promise<void>;
}

/** Whether this store was created with `init --simulation`: only then may the clock be moved. */
export async function isSimulation(sql: Sql): Promise<boolean> {
  const [r] = await sql.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'simulation'`);
  return r?.value === 'true';
}

export async function clockFor(sql: Sql, now: string | undefined): Promise<Clock> {
  if (now === undefined) return systemClock;
  const at = new Date(now);
  if (Number.isNaN(at.getTime())) throw new InputError(`--now: "${now}" is not an ISO 8601 time`);
  if (!(await isSimulation(sql))) {
    throw new RefusedError(
      '--now is refused: this store was not created with `gatehouse init --simulation`, and a production clock cannot be moved',
    );
  }
  return { now: () => new Date(at) };
}

export function dataDir(env: CliEnv, data: string | undefined): string {
  return resolve(env.cwd, data ?? '.gatehouse');
}

/** Opens the store named by --data or DATABASE_URL and builds the application around it. */
export async function openContext(
  env: CliEnv,
  opts: { data?: string; now?: string; command: string },
): Promise<CliContext> {
  const dir = dataDir(env, opts.data);
  const where = { dataDir: dir, databaseUrl: env.env.DATABASE_URL, command: opts.command };
  if (!storeExists(where))
    throw new InputError(
      `no Gatehouse store in ${dir}: run \`gatehouse init\` (or \`gatehouse demo\`) first`,
    );
  const store = await openStore(where);
  try {
    const [created] = await store.sql.query(`SELECT 1 FROM meta WHERE key = 'created_at'`);
    if (!created)
      throw new InputError(`no Gatehouse store at ${store.location}: run \`gatehouse init\` first`);
    const clock = await clockFor(store.sql, opts.now);
    const catalog = new CatalogCache();
    // Looked up when first used, so a configuration applied by this same process takes effect.
    const connectors = connectorSource(
      async (name) => (await catalog.get(store.sql)).connectors.get(name),
      {
        env: env.env as NodeJS.ProcessEnv,
        dataDir: dir,
      },
    );
    const app = gatehouse({
      sql: store.sql,
      clock,
      catalog,
      connectors,
      workerId: `${hostname()}:${process.pid}`,
    });
    return {
      app,
      store,
      close: async () => {
        await connectors.closeAll().catch(() => undefined);
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
