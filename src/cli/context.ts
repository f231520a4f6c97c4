import { hostname } from 'node:os';
import { CatalogCache } from '../core/catalog/catalog.js';
import { type Clock, systemClock } from '../core/clock.js';
import { InputError, RefusedError } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import type { RuntimeSettings } from '../core/jobs/runtime.js';
import type { Sql } from '../core/sql.js';
import type { ConnectorSource } from '../core/ports/connector.js';
import { type Store, openStore, storeExists } from '../store/open.js';
import type { Gatehouse } from '../app/gatehouse.js';
import { dataDir } from './data-dir.js';

export interface CliEnv {
  env: Record<string, string | undefined>;
  cwd: string;
}

export interface CliContext {
  app: Gatehouse;
  store: Store;
  /** The targets' connections, built on first use; closed with the context. */
  connectors: ConnectorSource & { closeAll(): Promise<void> };
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

export { dataDir } from './data-dir.js';

/** Opens the store named by --data or DATABASE_URL and builds the application around it. */
export async function openContext(
  env: CliEnv,
  opts: { data?: string; now?: string; command: string },
): Promise<CliContext> {
  const dir = dataDir(env, opts.data);
  // serve and demo (which serves) hold the store for long; every other command for a moment.
  const where = {
    dataDir: dir,
    databaseUrl: env.env.DATABASE_URL,
    command: opts.command,
    brief: opts.command !== 'serve' && opts.command !== 'demo',
  };
  if (!storeExists(where))
    throw new InputError(
      `no Gatehouse store in ${dir}: run \`gatehouse init\` (or \`gatehouse demo\`) first`,
    );
  // The use cases load while the store opens: PGlite compiles its WebAssembly on background
  // threads and this one would otherwise wait idle (ADR 0036).
  const opening = openStore(where);
  const loading = useCaseModules();
  loading.catch(() => undefined); // awaited below, once the store is open
  const store = await opening;
  try {
    const { connectorSource } = await loading;
    const [created] = await store.sql.query(`SELECT 1 FROM meta WHERE key = 'created_at'`);
    if (!created)
      throw new InputError(`no Gatehouse store at ${store.location}: run \`gatehouse init\` first`);
    // Looked up when first used, so a configuration applied by this same process takes effect.
    const catalog = new CatalogCache();
    const connectors = connectorSource(
      async (name) => (await catalog.get(store.sql)).connectors.get(name),
      {
        env: env.env as NodeJS.ProcessEnv,
        dataDir: dir,
      },
    );
    const app = await appOn(store.sql, catalog, connectors, env, opts.now);
    return {
      app,
      store,
      connectors,
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

/**
 * The use cases on an open store, with the clock of --now (simulation stores only). `serve` builds
 * one per command it runs for the local command channel, on the store and connectors it holds.
 */
export async function appOn(
  sql: Sql,
  catalog: CatalogCache,
  connectors: ConnectorSource,
  env: CliEnv,
  now: string | undefined,
): Promise<Gatehouse> {
  const { gatehouse, notifierSource, itsmSource } = await useCaseModules();
  return gatehouse({
    sql,
    clock: await clockFor(sql, now),
    catalog,
    connectors,
    notifiers: notifierSource({ env: env.env as NodeJS.ProcessEnv }),
    itsm: itsmSource({ env: env.env as NodeJS.ProcessEnv }),
    workerId: `${hostname()}:${process.pid}`,
    runtime: runtimeSettings(env.env),
  });
}

async function useCaseModules() {
  const [{ gatehouse }, { connectorSource }, { notifierSource }, { itsmSource }] =
    await Promise.all([
      import('../app/gatehouse.js'),
      import('../connectors/registry.js'),
      import('../connectors/notifiers.js'),
      import('../connectors/itsm.js'),
    ]);
  return { gatehouse, connectorSource, notifierSource, itsmSource };
}

/**
 * Job runtime settings from the environment: GATEHOUSE_TARGET_TIMEOUT (a duration, default 30s)
 * bounds each job's calls to its target; GATEHOUSE_JOBS_PER_CONNECTOR (default 4) bounds how many
 * of one connector's jobs run at once in this process; GATEHOUSE_JOB_LEASE (default 20s) is how
 * long a job stays with a worker that stopped renewing it (one that was killed).
 */
export function runtimeSettings(env: Record<string, string | undefined>): Partial<RuntimeSettings> {
  const out: Partial<RuntimeSettings> = {};
  const timeout = env.GATEHOUSE_TARGET_TIMEOUT;
  if (timeout) out.timeoutSeconds = parseDuration(timeout, 'GATEHOUSE_TARGET_TIMEOUT');
  const lease = env.GATEHOUSE_JOB_LEASE;
  if (lease) out.leaseSeconds = parseDuration(lease, 'GATEHOUSE_JOB_LEASE');
  const per = env.GATEHOUSE_JOBS_PER_CONNECTOR;
  if (per) {
    const n = Number(per);
    if (!Number.isInteger(n) || n < 1)
      throw new InputError(
        `GATEHOUSE_JOBS_PER_CONNECTOR: "${per}" is not a positive whole number`,
        {
          code: 'invalid_setting',
          field: 'GATEHOUSE_JOBS_PER_CONNECTOR',
        },
      );
    out.perQueue = n;
  }
  return out;
}
