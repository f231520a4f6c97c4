import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Gatehouse, gatehouse } from '../app/gatehouse.js';
import { runCli } from '../cli/run.js';
import { clockFor, type CliContext } from '../cli/context.js';
import { loadConfigDir } from '../config/load.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { type ConnectorSource, collectAssignments } from '../core/ports/connector.js';
import { connectorSource } from '../connectors/registry.js';
import { itsmSource } from '../connectors/itsm.js';
import { notifierSource } from '../connectors/notifiers.js';
import { ident } from '../connectors/postgres.js';
import { DEMO_CONFIG, DEMO_PEOPLE } from '../demo/seed.js';
import { pgliteTemplate } from '../store/pglite-template.js';
import { type TestStore, testStore } from '../store/test-store.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when --json was given and it parsed. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface Harness {
  store: TestStore;
  dir: string;
  /** The engine's clock for the next commands (passed as --now). */
  now: string;
  /**
   * Runs the real CLI in-process against this store, with --json (unless `json` is false or
   * `text` is set: the text a person reads) and --now added.
   */
  cli(args: string[], opts?: boolean | { text?: boolean }): Promise<CliResult>;
  /** Applies a CSV identity snapshot written from `rows` (header first). */
  sync(rows: string[], extra?: string[]): Promise<CliResult>;
  /** The use cases on this store at the harness's clock, for a server in front of them (ITSM hooks). */
  app(): Gatehouse;
  /** Direct members of a role in the embedded target database. */
  members(role: string): Promise<string[]>;
  /** The connectors the commands use: a test changes the target behind Gatehouse's back with them. */
  connectors: ConnectorSource;
  advance(seconds: number): void;
  close(): Promise<void>;
}

const START = '2026-03-02T09:00:00.000Z';

/** A PGlite target with every demo role, copied per test instead of created. */
async function targetTemplate(): Promise<string> {
  const { config } = await loadConfigDir(DEMO_CONFIG);
  const roles = config.entitlements.map((e) => e.target.role!).sort();
  return pgliteTemplate('demo-target', roles.join(','), async (db) => {
    for (const r of roles) await db.exec(`CREATE ROLE ${ident(r)} NOLOGIN`);
  });
}

/**
 * A Gatehouse on a fresh store (PGlite, or the server in DATABASE_URL) in simulation mode, with
 * the Acme demo organisation applied and its people synced, provisioning into a real embedded
 * PostgreSQL target. Tests drive it through the CLI exactly as a user would.
 */
export async function harness(opts: { people?: boolean; config?: string } = {}): Promise<Harness> {
  const store = await testStore();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-h-'));
  cpSync(await targetTemplate(), join(dir, 'target'), { recursive: true });
  await store.sql.query(
    `INSERT INTO meta (key, value) VALUES ('simulation', 'true'), ('created_at', $1)`,
    [START],
  );
  const catalog = new CatalogCache();
  const connectors = connectorSource(
    async (name) => (await catalog.get(store.sql)).connectors.get(name),
    { env: process.env, dataDir: dir },
  );
  const open = async (_env: unknown, o: { now?: string }): Promise<CliContext> => {
    const clock = await clockFor(store.sql, o.now);
    const app = gatehouse({
      sql: store.sql,
      clock,
      catalog,
      connectors,
      notifiers: notifierSource({ env: process.env }),
      itsm: itsmSource({ env: process.env }),
      workerId: 'test-worker',
    });
    return {
      app,
      store: { sql: store.sql, kind: store.kind, location: dir, close: async () => undefined },
      connectors,
      close: async () => undefined,
    };
  };
  const h: Harness = {
    store,
    dir,
    now: START,
    async cli(args, o = true) {
      const asJson = typeof o === 'boolean' ? o : !o.text;
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(
        [...args, ...(asJson ? ['--json'] : []), '--now', h.now],
        { stdout: (t) => out.push(t), stderr: (t) => err.push(t) },
        { env: process.env, cwd: dir },
        open,
      );
      const stdout = out.join('\n');
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      return { code, stdout, stderr: err.join('\n'), json };
    },
    async sync(rows, extra = []) {
      const file = join(dir, `snapshot-${Math.random().toString(36).slice(2)}.csv`);
      writeFileSync(file, `${rows.join('\n')}\n`);
      return h.cli(['identities', 'sync', file, ...extra]);
    },
    connectors,
    app: () =>
      gatehouse({
        sql: store.sql,
        clock: { now: () => new Date(h.now) },
        catalog,
        connectors,
        itsm: itsmSource({ env: process.env }),
        workerId: 'test-hooks',
      }),
    async members(role) {
      const c = await connectors.get('acme-db');
      const all = await collectAssignments(c.listAll([{ role }]));
      return all.map((a) => a.account).sort();
    },
    advance(seconds) {
      h.now = new Date(new Date(h.now).getTime() + seconds * 1000).toISOString();
    },
    async close() {
      await connectors.closeAll().catch(() => undefined);
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const applied = await h.cli(['apply', opts.config ?? DEMO_CONFIG]);
  if (applied.code !== 0) throw new Error(`harness: apply failed: ${applied.stderr}`);
  if (opts.people !== false) {
    const synced = await h.cli(['identities', 'sync', DEMO_PEOPLE, '--kinds', 'human']);
    if (synced.code !== 0) throw new Error(`harness: sync failed: ${synced.stderr}`);
    const swept = await h.cli(['sweep']);
    if (swept.code !== 0) throw new Error(`harness: sweep failed: ${swept.stderr}`);
  }
  return h;
}

export const PEOPLE_HEADER =
  'id,kind,status,display_name,department,title,manager,owner,location,employment_type';

/** The demo's people, one CSV row each (no header), for tests that change or extend the feed. */
export function demoPeople(): string[] {
  return readFileSync(DEMO_PEOPLE, 'utf8').trim().split('\n').slice(1);
}
