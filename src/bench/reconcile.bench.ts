/**
 * Reconciliation at scale (issue 9): a PostgreSQL target whose roles hold N memberships across N/10
 * accounts, reconciled against N grants in a store on the PostgreSQL server, beside the same
 * comparison written as one SQL `EXCEPT` in each direction over the same rows, in the same run.
 *
 *   npm run bench:reconcile                                  (sizes 100,000 and 1,000,000)
 *   BENCH_RECONCILE_SIZES=100000 npm run bench:reconcile     (one size)
 *   BENCH_SERVER=postgres://…                                (default the local server)
 *
 * Each size runs in a child process of its own, so that its peak RSS (sampled every 50 ms during
 * the reconciliation) is that size's alone. The target is what the connector really reconciles
 * against: login-less roles and their memberships in pg_auth_members, made in bulk (one `GRANT r1,
 * …, r10 TO a1, …, a5000` per batch, never the request path), named `gh_bench_rec_<pid>_…` and
 * dropped at the end, with the databases `gh_bench_rec_store_<pid>` (the migrated store, loaded
 * with `INSERT … SELECT generate_series`) and `gh_bench_rec_target_<pid>` (the connector's login
 * database). Roles are cluster-wide, so the baseline reads the same pg_auth_members rows from the
 * store's database and compares them with the grants in one statement. Statistics are left as
 * the load made them (no ANALYZE), as on a store without autovacuum.
 *
 * Drift is seeded so the comparison has something to find: one in a thousand accounts lacks its
 * first role in the target (`missing`), and as many extra accounts hold it with no grant
 * (`unmanaged`). Findings are recorded (mode `report`), as a scheduled run would.
 */
import '../v8-flags.js';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { systemClock } from '../core/clock.js';
import { migrate } from '../store/migrate.js';
import { pgSql } from '../store/pg-sql.js';
import { withDb } from '../store/test-store.js';
import type { Scenario } from './suite/measure.js';

const SERVER =
  process.env.BENCH_SERVER ??
  process.env.DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const SIZES = (process.env.BENCH_RECONCILE_SIZES ?? '100000,1000000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const ROLE_COUNT = 10;
const TARGET_SECONDS = 60;

interface SizeResult {
  memberships: number;
  grants: number;
  accounts: number;
  load_seconds: number;
  reconcile_seconds: number;
  baseline_seconds: number;
  ratio: number;
  assignments_listed: number;
  grants_read: number;
  findings: Record<string, number>;
  baseline_differences: number;
  rss_before_mb: number;
  rss_peak_mb: number;
  heap_peak_mb: number;
  load_average: number[];
  status: string;
}

const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
const seconds = (ms: number) => Math.round(ms / 10) / 100;

/** One size, in this process: load, reconcile, baseline, drop. Prints its result as JSON. */
async function runSize(memberships: number): Promise<SizeResult> {
  const accounts = Math.ceil(memberships / ROLE_COUNT);
  const tag = `gh_bench_rec_${process.pid}`;
  const roles = Array.from({ length: ROLE_COUNT }, (_, i) => `${tag}_role${i}`);
  const acct = `${tag}_a`;
  const extra = `${tag}_u`;
  const drift = Math.max(1, Math.floor(accounts / 1000));
  const missing = Array.from({ length: drift }, (_, k) => k * 1000 + 7).filter((i) => i < accounts);
  const storeDb = `gh_bench_rec_store_${process.pid}`;
  const targetDb = `gh_bench_rec_target_${process.pid}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-rec-'));
  let pool: pg.Pool | undefined;
  try {
    await admin.query(`CREATE DATABASE ${storeDb}`);
    await admin.query(`CREATE DATABASE ${targetDb}`);
    pool = new pg.Pool({ connectionString: withDb(SERVER, storeDb), max: 4 });
    pool.on('error', () => undefined);
    const sql = pgSql(pool);
    await migrate(sql);
    const loadStart = performance.now();

    // The target: roles, accounts, and their memberships, in bulk.
    const target = new pg.Client({ connectionString: withDb(SERVER, targetDb) });
    await target.connect();
    try {
      for (const r of roles) await target.query(`CREATE ROLE "${r}" NOLOGIN`);
      await createRoles(target, acct, accounts);
      await createRoles(target, extra, drift);
      const all = roles.map((r) => `"${r}"`).join(', ');
      for (let i = 0; i < accounts; i += 5000) {
        const names = Array.from(
          { length: Math.min(5000, accounts - i) },
          (_, k) => `"${acct}${i + k}"`,
        );
        await target.query(`GRANT ${all} TO ${names.join(', ')}`);
      }
      // Drift: every thousandth account lacks its first role; as many extra accounts hold it.
      if (missing.length > 0)
        await target.query(
          `REVOKE "${roles[0]}" FROM ${missing.map((i) => `"${acct}${i}"`).join(', ')}`,
        );
      const extras = Array.from({ length: drift }, (_, k) => `"${extra}${k}"`);
      await target.query(`GRANT "${roles[0]}" TO ${extras.join(', ')}`);
    } finally {
      await target.end();
    }

    // The store: the configuration, identities for every account, a grant per intended membership.
    writeConfig(join(dir, 'config'), roles);
    const { config } = await loadConfigDir(join(dir, 'config'));
    const catalog = new CatalogCache();
    const connectors = connectorSource(
      (name) =>
        sql
          .query<{ name: string; type: string; settings: Record<string, unknown> }>(
            'SELECT name, type, settings FROM connectors WHERE name = $1',
            [name],
          )
          .then((r) => r[0]),
      { env: { BENCH_TARGET_DB: withDb(SERVER, targetDb) }, dataDir: dir },
    );
    const app = gatehouse({ sql, clock: systemClock, catalog, connectors, workerId: 'bench' });
    await app.apply(config, 'bench', false);
    for (const [prefix, n] of [
      [acct, accounts],
      [extra, drift],
    ] as const) {
      await sql.query(
        `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
         SELECT $2 || g, 'human', 'active', '', 'bench', 'bench', '', '', '{}', 'bench', now(), now()
           FROM generate_series(0, $1::int - 1) g`,
        [n, prefix],
      );
    }
    for (let r = 0; r < ROLE_COUNT; r++) {
      for (let i = 0; i < accounts; i += 100_000) {
        await sql.query(
          `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
           SELECT 'grt_bench_' || $1 || '_' || g, $2 || g, $1, 'bench', $2 || g, 'request', 'active',
                  31536000, now(), now(), now() + interval '1 year', now()
             FROM generate_series($3::int, least($4::int, $5::int) - 1) g`,
          [`bench:e${r}`, acct, i, i + 100_000, accounts],
        );
      }
    }
    const loadMs = performance.now() - loadStart;

    // Gatehouse's reconciliation, its peak RSS sampled throughout.
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let heapPeak = process.memoryUsage().heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed);
    }, 50);
    const t = performance.now();
    const result = await app.reconcile({ connector: 'bench-db', dryRun: false, actor: 'bench' });
    const reconcileMs = performance.now() - t;
    clearInterval(sampler);
    await connectors.closeAll();
    const coverage = result.run.connectors[0]!;

    // Baseline: the same comparison as one statement, both directions, over the same rows.
    const b = performance.now();
    const diff = await sql.query<{ n: string }>(
      `WITH held AS (
         SELECT r.rolname::text AS role, a.rolname::text AS account
           FROM pg_auth_members m
           JOIN pg_roles r ON r.oid = m.roleid
           JOIN pg_roles a ON a.oid = m.member
          WHERE r.rolname = ANY($1::text[])),
       granted AS (
         SELECT e.target->>'role' AS role, g.identity AS account
           FROM grants g JOIN entitlements e ON e.id = g.entitlement
          WHERE g.app = 'bench' AND g.state = 'active')
       SELECT count(*) AS n FROM (
         (SELECT * FROM held EXCEPT SELECT * FROM granted)
         UNION ALL
         (SELECT * FROM granted EXCEPT SELECT * FROM held)) d`,
      [roles],
    );
    const baselineMs = performance.now() - b;
    return {
      memberships: accounts * ROLE_COUNT - missing.length + drift,
      grants: accounts * ROLE_COUNT,
      accounts: accounts + drift,
      load_seconds: seconds(loadMs),
      reconcile_seconds: seconds(reconcileMs),
      baseline_seconds: seconds(baselineMs),
      ratio: Math.round((reconcileMs / baselineMs) * 100) / 100,
      assignments_listed: coverage.assignments,
      grants_read: coverage.grants,
      findings: result.run.findings_by_kind,
      baseline_differences: Number(diff[0]?.n ?? 0),
      rss_before_mb: mb(rssBefore),
      rss_peak_mb: mb(rssPeak),
      heap_peak_mb: mb(heapPeak),
      load_average: loadavg().map((x) => Math.round(x * 100) / 100),
      status: `${result.run.status}/${coverage.status}${coverage.error ? `: ${coverage.error}` : ''}`,
    };
  } finally {
    await pool?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${storeDb} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${targetDb} WITH (FORCE)`);
    await dropRoles(admin, tag);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Login-less roles `prefix0` … `prefix{n-1}`, in batches of 10,000 per round trip. */
async function createRoles(c: pg.Client, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 10_000) {
    await c.query(
      `DO $$ BEGIN FOR i IN ${i}..${Math.min(n, i + 10_000) - 1} LOOP
         EXECUTE format('CREATE ROLE %I NOLOGIN', '${prefix}' || i); END LOOP; END $$`,
    );
  }
}

/** Roles are cluster-wide: a thousand per transaction (one transaction for all runs out of lock slots). */
async function dropRoles(admin: pg.Client, tag: string): Promise<void> {
  for (;;) {
    const r = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE $1 || '\\_%'`,
      [tag],
    );
    if (Number(r.rows[0]?.n ?? 0) === 0) {
      // A million memberships dropped leave a million dead rows in the cluster's shared catalogs;
      // this server's autovacuum is off, so without this every run added them for good (4,000,400
      // dead rows and 383 MB in pg_auth_members after four runs).
      await admin.query('VACUUM pg_auth_members, pg_authid, pg_shdepend');
      return;
    }
    await admin.query(
      `DO $$ DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE '${tag}\\_%' LIMIT 1000
         LOOP EXECUTE format('DROP ROLE %I', r); END LOOP; END $$`,
    );
  }
}

/** One app on the target database, one entitlement per role; reconciliation in report mode. */
function writeConfig(d: string, roles: string[]): void {
  mkdirSync(join(d, 'apps'), { recursive: true });
  writeFileSync(join(d, 'groups.yaml'), '- id: governance\n  members: []\n');
  writeFileSync(
    join(d, 'connectors.yaml'),
    '- name: bench-db\n  type: postgres\n  url: ${BENCH_TARGET_DB}\n',
  );
  writeFileSync(
    join(d, 'apps', 'bench.yaml'),
    ['id: bench', 'risk: low', 'owner: owner@bench.test', 'connector: bench-db', 'entitlements:']
      .concat(roles.flatMap((r, i) => [`  - id: bench:e${i}`, `    target: { role: ${r} }`]))
      .join('\n') + '\n',
  );
}

const n = (x: number) => x.toLocaleString('en-US');

/** Runs every size in a child process, prints the table and writes bench/results/reconcile.json. */
function main(): void {
  const results: SizeResult[] = [];
  for (const size of SIZES) {
    console.log(`reconcile ${n(size)} memberships …`);
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), '--size', String(size)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (r.status !== 0 || !line) {
      console.error(r.stdout);
      throw new Error(`the run at ${size} memberships failed (exit ${r.status})`);
    }
    results.push(JSON.parse(line) as SizeResult);
  }
  const rows = results.map((r) => [
    n(r.memberships),
    n(r.grants),
    `${r.reconcile_seconds.toFixed(1)} s`,
    `${r.baseline_seconds.toFixed(1)} s`,
    `${r.ratio.toFixed(2)}×`,
    `${r.rss_before_mb} → ${r.rss_peak_mb} MB`,
    Object.entries(r.findings)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
    String(r.baseline_differences),
    r.load_average[0]!.toFixed(2),
  ]);
  const head = [
    'memberships',
    'grants',
    'reconcile',
    'EXCEPT both ways',
    'ratio',
    'RSS before → peak',
    'findings',
    'EXCEPT rows',
    'load 1m',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
  const target = results.at(-1);
  if (target)
    console.log(
      `target: under ${TARGET_SECONDS} s at ${n(target.memberships)} memberships — ` +
        (target.reconcile_seconds < TARGET_SECONDS ? 'met' : 'NOT met') +
        `; peak RSS ${results.map((r) => `${r.rss_peak_mb} MB`).join(' / ')}`,
    );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/reconcile.json',
    JSON.stringify(
      {
        benchmark: 'reconcile',
        at: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          cpu: cpus()[0]?.model ?? '',
          memory_gb: Math.round(totalmem() / 1073741824),
          node: process.version,
        },
        target_seconds: TARGET_SECONDS,
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log('wrote bench/results/reconcile.json');
}

/** One size in a child process of its own (its peak RSS is that size's alone), as main runs it. */
function runChild(size: number): Promise<SizeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), '--size', String(size)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as SizeResult);
      else
        reject(new Error(`the reconcile run at ${size} memberships failed (exit ${code}): ${out}`));
    });
  });
}

/**
 * The suite's `reconcile` scenario (ADR 0027's hook): the profile's size, run as main runs each
 * size. The target is PostgreSQL roles whatever store the suite runs on, so its store is the
 * server's too (BENCH_SERVER, else DATABASE_URL, else the local server).
 */
export const scenario: Scenario = {
  name: 'reconcile',
  usesWorld: false,
  async run({ profile, say }) {
    const r = await runChild(profile.reconcileMemberships);
    say(
      `reconcile: ${n(r.memberships)} memberships in ${r.reconcile_seconds} s beside EXCEPT both ways ${r.baseline_seconds} s; ` +
        `findings ${JSON.stringify(r.findings)}; ${r.status}`,
    );
    return {
      reconcile: {
        value: r.reconcile_seconds,
        unit: `s for ${n(r.memberships)} memberships`,
        baseline: r.baseline_seconds,
        baseline_of: 'the same comparison as one SQL EXCEPT each way over the same rows',
        ratio: r.ratio,
        target: `< ${TARGET_SECONDS} s at 1,000,000 memberships`,
        pass: r.reconcile_seconds < TARGET_SECONDS && r.status.startsWith('complete'),
        peak_rss_mb: r.rss_peak_mb,
        detail: {
          store: 'server',
          memberships: r.memberships,
          grants: r.grants,
          findings: r.findings,
          baseline_differences: r.baseline_differences,
          status: r.status,
        },
      },
    };
  },
};

const sizeArg = process.argv.indexOf('--size');
if (sizeArg > 0) {
  const r = await runSize(Number(process.argv[sizeArg + 1]));
  console.log(JSON.stringify(r));
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Imported by the suite, it only provides `scenario`; started directly, it runs every size.
  main();
}
