import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { gatehouse } from '../../app/gatehouse.js';
import { loadConfigDir } from '../../config/load.js';
import { connectorSource } from '../../connectors/registry.js';
import { ident } from '../../connectors/postgres.js';
import { CatalogCache } from '../../core/catalog/catalog.js';
import { systemClock } from '../../core/clock.js';
import { APPLY, enqueueGrantJob } from '../../core/grants/grants.js';
import type { Sql } from '../../core/sql.js';
import { withDb } from '../../store/test-store.js';
import {
  type Scenario,
  type ScenarioResult,
  RssWatch,
  pct,
  round,
  tenths,
} from '../suite/measure.js';
import { benchDbName, benchStore } from '../suite/store.js';

const SERVER = process.env.BENCH_TARGET_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// Roles are cluster-wide on a server: every name the run creates carries its pid, and is dropped.
const TAG = `ghb${process.pid}`;
const ROLES = [0, 1, 2, 3].map((i) => `${TAG}_role${i}`);
const ENT_OF_ROLE: Record<string, string> = Object.fromEntries(
  ROLES.map((r, i) => [r, `bench:e${i}`]),
);
const acct = (phase: string) => `${TAG}${phase}`;

interface Pair {
  account: string;
  role: string;
}

const pairs = (prefix: string, n: number): Pair[] =>
  Array.from({ length: n }, (_, i) => ({
    account: `${prefix}${i}`,
    role: ROLES[i % ROLES.length]!,
  }));

const rate = (n: number, ms: number) => (n / ms) * 1000;

/** Accounts as login-less roles, created in bulk inside the target. */
async function createAccounts(target: pg.Client, prefix: string, n: number): Promise<void> {
  await target.query(
    `DO $$ BEGIN FOR i IN 0..${n - 1} LOOP EXECUTE format('CREATE ROLE %I NOLOGIN', '${prefix}' || i); END LOOP; END $$`,
  );
}

async function grantAll(target: pg.Client, ps: Pair[]): Promise<void> {
  for (let i = 0; i < ps.length; i += 1000) {
    const chunk = ps.slice(i, i + 1000);
    await target.query(chunk.map((p) => `GRANT ${ident(p.role)} TO ${ident(p.account)}`).join(';'));
  }
}

/** The baseline: one statement per change, one connection, no read-back, no bookkeeping. */
async function direct(target: pg.Client, ps: Pair[], verb: 'GRANT' | 'REVOKE'): Promise<number> {
  const t = performance.now();
  for (const p of ps)
    await target.query(
      verb === 'GRANT'
        ? `GRANT ${ident(p.role)} TO ${ident(p.account)}`
        : `REVOKE ${ident(p.role)} FROM ${ident(p.account)}`,
    );
  return performance.now() - t;
}

async function seedIdentities(sql: Sql, prefix: string, n: number): Promise<void> {
  await sql.query(
    `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
     SELECT $2 || g, 'human', 'active', '', 'bench', 'bench', '', '', '{}', 'bench', now(), now()
       FROM generate_series(0, $1::int - 1) g`,
    [n, prefix],
  );
}

/** Grants of one state for the pairs; `expires` makes them active and due at that instant. */
async function seedGrants(sql: Sql, ps: Pair[], state: 'provisioning' | 'active', expires?: Date) {
  for (let i = 0; i < ps.length; i += 5000) {
    const chunk = ps.slice(i, i + 5000);
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_bench_' || x.account, x.account, e.id, e.app, x.account, 'request', $3, 86400, now(),
              $4::timestamptz, $4::timestamptz, $4::timestamptz
         FROM unnest($1::text[], $2::text[]) AS x(account, ent) JOIN entitlements e ON e.id = x.ent`,
      [chunk.map((p) => p.account), chunk.map((p) => ENT_OF_ROLE[p.role]), state, expires ?? null],
    );
  }
}

/**
 * Provisioning and expiry throughput against a real PostgreSQL target, beside the same GRANT and
 * REVOKE statements issued directly through one connection in the same run (issue 6's targets).
 * The target is a database of its own on the server (BENCH_TARGET_URL, default the local one),
 * created and dropped by the run. Accounts exist in the target before each phase, so both sides
 * do the same work: one membership change per grant. Gatehouse also reads every change back and
 * records it (grant state, audit event, job outcome); the baseline does neither.
 *
 * Grants and their jobs are seeded with SQL and the queue's own enqueue (not the request path):
 * what is measured is the runtime, from due work to verified change. Statistics are left as they
 * were when the tables were small (no ANALYZE), as on a store without autovacuum.
 */
export async function runLifecycle(
  sizes: { provision?: number; expire?: number },
  say: (line: string) => void,
): Promise<Record<string, ScenarioResult>> {
  const out: Record<string, ScenarioResult> = {};
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  const targetDb = benchDbName('target');
  await vacuumRoleCatalogs(admin);
  await admin.query(`DROP DATABASE IF EXISTS ${targetDb} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${targetDb}`);
  const targetUrl = withDb(SERVER, targetDb);
  const target = new pg.Client({ connectionString: targetUrl });
  await target.connect();
  const store = await benchStore('lifecycle');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  try {
    for (const r of ROLES) await target.query(`CREATE ROLE ${ident(r)} NOLOGIN`);
    writeConfig(join(dir, 'config'));
    const { config } = await loadConfigDir(join(dir, 'config'));
    const catalog = new CatalogCache();
    const connectors = connectorSource(
      (name) =>
        store.sql
          .query<{ name: string; type: string; settings: Record<string, unknown> }>(
            'SELECT name, type, settings FROM connectors WHERE name = $1',
            [name],
          )
          .then((r) => r[0]),
      { env: { BENCH_TARGET_DB: targetUrl }, dataDir: dir },
    );
    const app = gatehouse({
      sql: store.sql,
      clock: systemClock,
      catalog,
      connectors,
      workerId: 'bench',
    });
    await app.apply(config, 'bench', false);
    say(`lifecycle: store ${store.kind}; target: PostgreSQL server database ${targetDb}`);

    // Provisioning: N approved grants, each with its apply job, due now.
    const PROVISION = sizes.provision ?? 0;
    if (PROVISION > 0) {
      const base = pairs(acct('bp'), PROVISION);
      await createAccounts(target, acct('bp'), PROVISION);
      const baseMs = await direct(target, base, 'GRANT');
      await direct(target, base, 'REVOKE');
      const ps = pairs(acct('gp'), PROVISION);
      await createAccounts(target, acct('gp'), PROVISION);
      await seedIdentities(store.sql, acct('gp'), PROVISION);
      await seedGrants(store.sql, ps, 'provisioning');
      const now = new Date();
      for (let i = 0; i < ps.length; i += 1000)
        await store.sql.transaction(async (tx) => {
          for (const p of ps.slice(i, i + 1000))
            await enqueueGrantJob(
              tx,
              now,
              { id: `grt_bench_${p.account}`, app: ENT_OF_ROLE[p.role]!.split(':')[0]! },
              APPLY,
            );
        });
      const watch = new RssWatch();
      const start = Date.now();
      const t = performance.now();
      const r = await app.sweep();
      const ms = performance.now() - t;
      const rss = watch.stop();
      const [done] = await store.sql.query<{ n: number | string }>(
        `SELECT count(*) AS n FROM grants WHERE id LIKE 'grt\\_bench\\_' || $1 || '%' AND state = 'active'`,
        [acct('gp')],
      );
      const times = (
        await store.sql.query<{ at: Date }>(
          `SELECT granted_at AS at FROM grants WHERE id LIKE 'grt\\_bench\\_' || $1 || '%' AND state = 'active' ORDER BY granted_at`,
          [acct('gp')],
        )
      ).map((x) => x.at.getTime());
      const { first, last } = tenths(times, start);
      const ratio = rate(PROVISION, ms) / rate(PROVISION, baseMs);
      say(
        `provision ${PROVISION}: ${Number(done?.n)} active and verified in ${(ms / 1000).toFixed(1)} s = ${rate(PROVISION, ms).toFixed(0)}/s; ` +
          `baseline GRANT direct ${rate(PROVISION, baseMs).toFixed(0)}/s; ratio ${(ratio * 100).toFixed(1)} % (target ≥ 25 %); ` +
          `first 10 % ${first.toFixed(0)}/s, last 10 % ${last.toFixed(0)}/s; failed attempts ${r.jobs_failed}`,
      );
      for (const f of r.failures.slice(0, 3)) say(`  failed: ${f.kind} ${f.subject}: ${f.error}`);
      out.provision = {
        value: round(rate(PROVISION, ms), 1),
        unit: 'grants/s',
        baseline: round(rate(PROVISION, baseMs), 1),
        baseline_of: 'GRANT issued directly, one connection',
        ratio: round(ratio, 3),
        target: '>= 25 % of baseline; last 10 % no slower than the first',
        pass: ratio >= 0.25 && last >= first && Number(done?.n) === PROVISION,
        peak_rss_mb: rss.peak_mb,
        detail: {
          grants: PROVISION,
          verified: Number(done?.n),
          seconds: round(ms / 1000, 2),
          first_tenth_per_s: round(first, 1),
          last_tenth_per_s: round(last, 1),
          failed_attempts: r.jobs_failed,
        },
      };
    }

    // Expiry: N active grants whose memberships are in the target, all due at one instant.
    const EXPIRE = sizes.expire ?? 0;
    if (EXPIRE > 0) {
      const base = pairs(acct('be'), EXPIRE);
      await createAccounts(target, acct('be'), EXPIRE);
      await grantAll(target, base);
      const baseMs = await direct(target, base, 'REVOKE');
      const ps = pairs(acct('ge'), EXPIRE);
      await createAccounts(target, acct('ge'), EXPIRE);
      await grantAll(target, ps);
      await seedIdentities(store.sql, acct('ge'), EXPIRE);
      const due = new Date();
      await seedGrants(store.sql, ps, 'active', due);
      const watch = new RssWatch();
      const start = Date.now();
      const t = performance.now();
      const r = await app.sweep();
      const ms = performance.now() - t;
      const rss = watch.stop();
      const lat = (
        await store.sql.query<{ s: number; at: Date }>(
          `SELECT revocation_latency_seconds AS s, revoked_at AS at FROM grants
            WHERE id LIKE 'grt\\_bench\\_' || $1 || '%' AND state = 'revoked' ORDER BY revoked_at`,
          [acct('ge')],
        )
      ).map((x) => ({ s: Number(x.s), at: x.at.getTime() }));
      const [left] = await target
        .query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname LIKE $1 || '%'`,
          [acct('ge')],
        )
        .then((q) => q.rows);
      const { first, last } = tenths(
        lat.map((x) => x.at),
        start,
      );
      const p50 = pct(
        lat.map((x) => x.s),
        50,
      );
      const p95 = pct(
        lat.map((x) => x.s),
        95,
      );
      const ratio = rate(EXPIRE, ms) / rate(EXPIRE, baseMs);
      say(
        `expire ${EXPIRE}: ${lat.length} revoked and verified in ${(ms / 1000).toFixed(1)} s = ${rate(EXPIRE, ms).toFixed(0)}/s ` +
          `(memberships left in the target: ${left?.n}); baseline REVOKE direct ${rate(EXPIRE, baseMs).toFixed(0)}/s; ` +
          `ratio ${(ratio * 100).toFixed(1)} % (target ≥ 25 %); ` +
          `revocation latency p50 ${p50.toFixed(1)} s, p95 ${p95.toFixed(1)} s (target < 300 s); ` +
          `first 10 % ${first.toFixed(0)}/s, last 10 % ${last.toFixed(0)}/s; expired ${r.expired}, jobs done ${r.jobs_done}, failed attempts ${r.jobs_failed}`,
      );
      for (const f of r.failures.slice(0, 3)) say(`  failed: ${f.kind} ${f.subject}: ${f.error}`);
      out.expire = {
        value: round(rate(EXPIRE, ms), 1),
        unit: 'grants/s',
        baseline: round(rate(EXPIRE, baseMs), 1),
        baseline_of: 'REVOKE issued directly, one connection',
        ratio: round(ratio, 3),
        target:
          '>= 25 % of baseline; revocation latency p95 < 300 s; last 10 % no slower than the first',
        pass: ratio >= 0.25 && p95 < 300 && last >= first && lat.length === EXPIRE,
        peak_rss_mb: rss.peak_mb,
        detail: {
          grants: EXPIRE,
          revoked: lat.length,
          memberships_left: Number(left?.n ?? 0),
          seconds: round(ms / 1000, 2),
          latency_p50_s: round(p50, 1),
          latency_p95_s: round(p95, 1),
          first_tenth_per_s: round(first, 1),
          last_tenth_per_s: round(last, 1),
          failed_attempts: r.jobs_failed,
        },
      };
    }
    await connectors.closeAll();
  } finally {
    await target.end();
    await store.close();
    await admin.query(`DROP DATABASE IF EXISTS ${targetDb} WITH (FORCE)`);
    // Roles are cluster-wide: drop the benchmark's accounts too, a thousand per transaction (one
    // transaction for all of them runs out of lock slots).
    for (;;) {
      const left = await admin.query<{ n: string }>(
        `WITH gone AS (SELECT rolname FROM pg_roles WHERE rolname LIKE '${TAG}%' LIMIT 1000)
         SELECT count(*) AS n FROM gone`,
      );
      if (Number(left.rows[0]?.n ?? 0) === 0) break;
      await admin.query(
        `DO $$ DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE '${TAG}%' LIMIT 1000 LOOP EXECUTE format('DROP ROLE %I', r); END LOOP; END $$`,
      );
    }
    await vacuumRoleCatalogs(admin);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export const provisionScenario: Scenario = {
  name: 'provision',
  usesWorld: false,
  run: ({ profile, say }) => runLifecycle({ provision: profile.provision }, say),
};

export const expireScenario: Scenario = {
  name: 'expire',
  usesWorld: false,
  run: ({ profile, say }) => runLifecycle({ expire: profile.expire }, say),
};

/**
 * Roles and memberships live in the cluster's shared catalogs, which outlive the benchmark's
 * databases, and this server's autovacuum is off: every run's 100,000 accounts and their grants
 * stayed behind as dead rows (2.9 million in pg_auth_members after a morning of runs), and every
 * GRANT and REVOKE in the target slowed with them — expire fell from 2,181 to 417 revocations/s
 * across runs on the same code. Vacuumed before measuring, so a run starts as the first did, and
 * after dropping the accounts, so it leaves nothing behind.
 */
async function vacuumRoleCatalogs(admin: pg.Client): Promise<void> {
  await admin.query('VACUUM pg_catalog.pg_auth_members, pg_catalog.pg_authid');
}

/** One app on the benchmark's target database, one entitlement per role, nothing to decide. */
function writeConfig(d: string): void {
  mkdirSync(join(d, 'apps'), { recursive: true });
  writeFileSync(join(d, 'groups.yaml'), '- id: governance\n  members: []\n');
  writeFileSync(
    join(d, 'connectors.yaml'),
    '- name: bench-db\n  type: postgres\n  url: ${BENCH_TARGET_DB}\n  max_connections: 8\n',
  );
  writeFileSync(
    join(d, 'apps', 'bench.yaml'),
    ['id: bench', 'risk: low', 'owner: owner@bench.test', 'connector: bench-db', 'entitlements:']
      .concat(ROLES.flatMap((r, i) => [`  - id: bench:e${i}`, `    target: { role: ${r} }`]))
      .join('\n') + '\n',
  );
}
