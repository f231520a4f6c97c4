import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { verifyAudit } from '../audit/verify.js';
import { CatalogCache } from '../catalog/catalog.js';
import { toIdentity, type IdentityRow } from '../catalog/rows.js';
import { fixedClock } from '../clock.js';
import type { Connector, ConnectorSource } from '../ports/connector.js';
import { DEFAULT_SETTINGS } from '../model.js';
import { createGrant } from './grants.js';
import { drainJobs } from '../jobs/sweep.js';
import { connectorSource } from '../../connectors/registry.js';
import { ident } from '../../connectors/postgres.js';
import { pgSql } from '../../store/pg-sql.js';
import { testStore, withDb, type TestStore } from '../../store/test-store.js';

const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const WORKERS = 3;
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'main.js');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh migrated database on the server, whatever store the rest of the suite runs on. */
async function serverTestStore(): Promise<TestStore> {
  const saved = process.env.DATABASE_URL;
  process.env.DATABASE_URL = SERVER_URL;
  try {
    return await testStore();
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
}

async function unreachable(url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Drops a database once the connections of pools just ended have gone: pool.end() resolves before
 * its clients' sockets close, and a forced drop would kill them with an error nobody listens to.
 */
async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const r = await admin.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [name],
    );
    if (r.rows[0].n === 0) break;
    await sleep(50);
  }
  await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
}

interface Fixture {
  store: TestStore;
  admin: pg.Client;
  /** The target database, reached by the connector through ${TARGET_URL}. */
  targetUrl: string;
  role: string;
  /** Identity ids, which are also the target accounts, sorted. */
  ids: string[];
  grantIds: string[];
}

/**
 * A Gatehouse database on the server with one postgres connector to a throwaway target database,
 * one entitlement (membership of a fresh role) and `n` grants in `provisioning`, each with its
 * `grant.apply` job and `grant.created` event. Everything is dropped afterwards, even on failure.
 */
async function withFixture(
  t: TestContext,
  n: number,
  at: Date,
  fn: (fx: Fixture) => Promise<void>,
): Promise<void> {
  const down = await unreachable(SERVER_URL);
  if (down) {
    t.skip(`no PostgreSQL server at ${SERVER_URL} (${down})`);
    return;
  }
  const run = randomBytes(4).toString('hex');
  // Roles are cluster-global: every role this test makes carries the run's prefix.
  const prefix = `gh_w${run}_`;
  const role = `${prefix}reader`;
  const targetDb = `gatehouse_target_${run}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  let store: TestStore | undefined;
  try {
    await admin.query(`CREATE DATABASE ${ident(targetDb)}`);
    await admin.query(`CREATE ROLE ${ident(role)} NOLOGIN`);
    store = await serverTestStore();
    const { sql } = store;

    // The catalog as `apply` would leave it: one app on one postgres connector, one entitlement.
    await sql.query(`INSERT INTO meta (key, value) VALUES ('created_at', $1)`, [at.toISOString()]);
    await sql.query(
      'INSERT INTO config_state (id, config_hash, settings, applied_at) VALUES (1, $1, $2, $3)',
      [`workers-${run}`, JSON.stringify(DEFAULT_SETTINGS), at],
    );
    await sql.query('INSERT INTO connectors (name, type, settings) VALUES ($1, $2, $3)', [
      'target-db',
      'postgres',
      JSON.stringify({ url: '${TARGET_URL}', create_accounts: true }),
    ]);
    await sql.query(
      'INSERT INTO apps (id, name, risk, owner, connector) VALUES ($1, $2, $3, $4, $5)',
      ['warehouse', 'Warehouse', 'low', 'owner', 'target-db'],
    );
    await sql.query(
      `INSERT INTO entitlements (id, app, risk, privileged, max_duration, default_duration, standing, kinds,
         requires_ticket, break_glass, approval, licence_tier, target)
       VALUES ($1, $2, 'low', false, NULL, 3600, true, $3, false, false, NULL, NULL, $4)`,
      ['warehouse:reader', 'warehouse', ['human'], JSON.stringify({ role })],
    );
    const ids = Array.from({ length: n }, (_, i) => `${prefix}u${String(i).padStart(3, '0')}`);
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, created_at, updated_at)
       SELECT id, 'human', 'active', id, $2, $2 FROM unnest($1::text[]) AS id`,
      [ids, at],
    );

    const entitlement = (await new CatalogCache().get(sql)).entitlements.get('warehouse:reader');
    assert.ok(entitlement, 'the seeded entitlement is in the catalog');
    const identities = (await sql.query<IdentityRow>('SELECT * FROM identities ORDER BY id')).map(
      toIdentity,
    );
    const grantIds = await sql.transaction(async (tx) => {
      const out: string[] = [];
      for (const identity of identities) {
        const g = { identity, entitlement, requestId: null, trigger: 'request' as const };
        out.push(await createGrant(tx, at, 'test', { ...g, emergency: false, duration: 3600 }));
      }
      return out;
    });
    assert.equal(grantIds.length, n);

    await fn({ store, admin, targetUrl: withDb(SERVER_URL, targetDb), role, ids, grantIds });
  } finally {
    await store?.close().catch(() => undefined);
    await dropDatabase(admin, targetDb).catch(() => undefined);
    const roles = await admin
      .query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [
        prefix,
      ])
      .catch(() => ({ rows: [] as { rolname: string }[] }));
    // DROP ROLE removes the role's memberships, either side, with it.
    for (const r of roles.rows) {
      await admin.query(`DROP ROLE IF EXISTS ${ident(r.rolname)}`).catch(() => undefined);
    }
    await admin.end();
  }
}

/**
 * What the database and the target must show once every job ran once: each grant active and
 * verified, each job done at its first attempt by the worker that says it ran it, one
 * activation event per grant on an intact chain, and exactly the accounts as members of the role.
 */
async function assertAppliedOnce(fx: Fixture, ranBy: Map<string, number>): Promise<void> {
  const { sql } = fx.store;
  const n = fx.grantIds.length;
  const states = await sql.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM grants GROUP BY state',
  );
  assert.deepEqual(states, [{ state: 'active', n }], 'every grant is active');
  const unverified = await sql.query(
    'SELECT id FROM grants WHERE granted_at IS NULL OR verified_at IS NULL OR expires_at IS NULL',
  );
  assert.deepEqual(unverified, [], 'every grant is verified and has an expiry');

  const outbox = await sql.query<{
    grant_id: string;
    op: string;
    state: string;
    attempts: number;
    lease_owner: string;
  }>(
    `SELECT subject AS grant_id, replace(kind, 'grant.', '') AS op, state, attempts, lease_owner FROM jobs ORDER BY id`,
  );
  assert.equal(outbox.length, n, 'one job per grant');
  assert.deepEqual(outbox.map((o) => o.grant_id).sort(), [...fx.grantIds].sort());
  for (const o of outbox) {
    assert.deepEqual(
      { op: o.op, state: o.state, attempts: o.attempts },
      { op: 'apply', state: 'done', attempts: 1 },
      `job of ${o.grant_id}`,
    );
  }
  // Who leased each row agrees with what each worker says it ran.
  const leased = new Map<string, number>();
  for (const o of outbox) leased.set(o.lease_owner, (leased.get(o.lease_owner) ?? 0) + 1);
  const sorted = (m: Map<string, number>) => [...m].filter(([, k]) => k > 0).sort();
  assert.deepEqual(sorted(leased), sorted(ranBy), 'each worker leased exactly the jobs it ran');

  const activated = await sql.query<{ subject: string; actor: string }>(
    `SELECT subject, actor FROM audit_events WHERE action = 'grant.activated' ORDER BY seq`,
  );
  assert.equal(activated.length, n, 'one grant.activated event per grant');
  assert.deepEqual(activated.map((e) => e.subject).sort(), [...fx.grantIds].sort());
  const created = await sql.query(`SELECT 1 FROM audit_events WHERE action = 'grant.created'`);
  assert.equal(created.length, n, 'one grant.created event per grant');
  // Concurrent appends queued on the head row: the chain has no fork and verifies.
  const { ok, events } = await verifyAudit(sql);
  assert.deepEqual({ ok, events }, { ok: true, events: 2 * n });

  // The target itself holds exactly those memberships.
  const members = await fx.admin.query<{ account: string }>(
    `SELECT a.rolname AS account FROM pg_auth_members m
       JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
      WHERE r.rolname = $1 ORDER BY 1`,
    [fx.role],
  );
  assert.deepEqual(
    members.rows.map((r) => r.account),
    fx.ids,
    `the target role has the ${n} accounts as members`,
  );
}

test('three workers sharing one database apply each grant exactly once', async (t) => {
  const N = 60;
  const at = new Date('2026-03-02T09:00:00.000Z');
  await withFixture(t, N, at, async (fx) => {
    // Shared by the three workers: apply calls per account, and how many applies overlap.
    const applies = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    const counting = (inner: ConnectorSource): ConnectorSource => ({
      async get(name) {
        const c = await inner.get(name);
        const wrapped: Connector = {
          name: c.name,
          type: c.type,
          async apply(ref) {
            applies.set(ref.account, (applies.get(ref.account) ?? 0) + 1);
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            try {
              await sleep(Math.random() * 15);
              await c.apply(ref);
            } finally {
              inFlight--;
            }
          },
          revoke: (ref) => c.revoke(ref),
          readBack: (ref) => c.readBack(ref),
          listAll: (targets) => c.listAll(targets),
          close: () => c.close(),
        };
        return wrapped;
      },
    });

    const pools: pg.Pool[] = [];
    const sources: { closeAll(): Promise<void> }[] = [];
    try {
      // Three nodes: each its own pool, catalog cache, connectors and worker id.
      const workers = await Promise.all(
        Array.from({ length: WORKERS }, async (_, i) => {
          const pool = new pg.Pool({ connectionString: fx.store.location, max: 3 });
          pool.on('error', () => {});
          pools.push(pool);
          const sql = pgSql(pool);
          const cache = new CatalogCache();
          const source = connectorSource(
            async (name) => (await cache.get(sql)).connectors.get(name),
            { env: { TARGET_URL: fx.targetUrl }, dataDir: tmpdir() },
          );
          sources.push(source);
          return {
            sql,
            clock: fixedClock(at),
            catalog: await cache.get(sql),
            connectors: counting(source),
            workerId: `worker-${i + 1}`,
          };
        }),
      );

      const started = Date.now();
      const results = await Promise.all(workers.map((w) => drainJobs(w)));
      const perWorker = results.map((r) => r.done).join(' / ');
      t.diagnostic(
        `${N} grants drained in ${Date.now() - started} ms: ${perWorker} per worker, at most ${maxInFlight} applies in flight`,
      );

      assert.deepEqual(
        results.map((r) => r.failed),
        Array(WORKERS).fill(0),
        'no job failed',
      );
      assert.equal(
        results.reduce((s, r) => s + r.done, 0),
        N,
        'the workers ran N jobs between them',
      );
      // The work was really shared, and the applies really overlapped.
      for (const [i, r] of results.entries()) {
        assert.ok(r.done > 0, `worker-${i + 1} ran jobs (per worker: ${perWorker})`);
      }
      assert.ok(maxInFlight >= 2, 'applies of different workers ran at the same time');

      // Each account was applied exactly once.
      assert.equal(
        [...applies.values()].reduce((s, k) => s + k, 0),
        N,
        'N apply calls in all',
      );
      assert.deepEqual([...applies.keys()].sort(), fx.ids, 'one account per identity');
      for (const [account, k] of applies) assert.equal(k, 1, `${account} applied once`);

      await assertAppliedOnce(fx, new Map(workers.map((w, i) => [w.workerId, results[i]!.done])));
    } finally {
      await Promise.allSettled(sources.map((s) => s.closeAll()));
      await Promise.allSettled(pools.map((p) => p.end()));
    }
  });
});

interface Sweep {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function sweepProcess(cwd: string, env: NodeJS.ProcessEnv): Promise<Sweep> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'sweep', '--json'], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ pid: child.pid!, code, stdout, stderr }));
  });
}

test('three `gatehouse sweep` processes on one server database apply each grant exactly once', async (t) => {
  const N = 60;
  // The processes run on the system clock: the grants were due before they start.
  const at = new Date(Date.now() - 60_000);
  await withFixture(t, N, at, async (fx) => {
    const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-sweep-'));
    try {
      const env = { ...process.env, DATABASE_URL: fx.store.location, TARGET_URL: fx.targetUrl };
      const started = Date.now();
      const runs = await Promise.all(Array.from({ length: WORKERS }, () => sweepProcess(cwd, env)));
      const done = runs.map((r) => {
        assert.equal(r.code, 0, `sweep ${r.pid} exits 0: ${r.stderr}`);
        return JSON.parse(r.stdout) as { jobs_done: number; jobs_failed: number };
      });
      t.diagnostic(
        `${N} grants swept by ${WORKERS} processes in ${Date.now() - started} ms: ${done.map((d) => d.jobs_done).join(' / ')}`,
      );
      assert.deepEqual(
        done.map((d) => d.jobs_failed),
        Array(WORKERS).fill(0),
        'no job failed',
      );
      assert.equal(
        done.reduce((s, d) => s + d.jobs_done, 0),
        N,
        'the processes ran N jobs between them',
      );
      // Worker ids are host:pid; process start-up skew decides who gets how much, so no
      // particular split is asserted here, only that the counts and leases agree.
      await assertAppliedOnce(
        fx,
        new Map(runs.map((r, i) => [`${hostname()}:${r.pid}`, done[i]!.jobs_done])),
      );
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

interface Node {
  proc: ReturnType<typeof spawn>;
  url: string;
  workerId: string;
}

/** A `gatehouse serve` node on the shared server database, once it answers. */
function serveNode(cwd: string, env: NodeJS.ProcessEnv): Promise<Node> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--interval', '1s'], {
      cwd,
      env,
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving at (\S+)/.exec(out);
      if (m) resolve({ proc, url: m[1]!, workerId: `${hostname()}:${proc.pid}` });
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
}

const exited = (p: ReturnType<typeof spawn>) =>
  p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve(p.exitCode)
    : new Promise<number | null>((r) => p.once('exit', (code) => r(code)));

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('three `gatehouse serve` nodes share one queue: one killed with -9 mid-provisioning loses nothing, one stopped with SIGTERM records its work and takes no more', async (t) => {
  const N = 600;
  // Due once the three nodes are up, so that all three take part from the first lease.
  const at = new Date(Date.now() + 30_000);
  await withFixture(t, N, at, async (fx) => {
    const { sql } = fx.store;
    const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-nodes-'));
    const env = {
      ...process.env,
      DATABASE_URL: fx.store.location,
      TARGET_URL: fx.targetUrl,
      // One slot per node and short leases: the killed node's work is due again within seconds.
      GATEHOUSE_JOBS_PER_CONNECTOR: '1',
      GATEHOUSE_JOB_LEASE: '3s',
    };
    const nodes: Node[] = [];
    try {
      nodes.push(...(await Promise.all([0, 1, 2].map(() => serveNode(cwd, env)))));
      for (const n of nodes) {
        const ready = await fetch(`${n.url}/readyz`);
        assert.equal(ready.status, 200, `${n.url} is ready`);
      }
      const holds = async (n: Node) =>
        (
          await sql.query(
            `SELECT 1 FROM jobs WHERE lease_owner = $1 AND state = 'pending' AND lease_until IS NOT NULL`,
            [n.workerId],
          )
        ).length > 0;
      // Whichever node is first seen holding work in flight is killed; another is stopped.
      let killed: Node | undefined;
      await until('a node holding a lease', 60_000, async () => {
        for (const n of nodes) if (await holds(n)) killed = n;
        return killed !== undefined;
      });
      killed!.proc.kill('SIGKILL');
      const [stopped, survivor] = nodes.filter((n) => n !== killed) as [Node, Node];
      stopped.proc.kill('SIGTERM');
      assert.equal(await exited(stopped.proc), 0, 'a stopped node exits cleanly');
      assert.equal(await holds(stopped), false, 'a stopped node holds no lease it did not record');
      await until('every grant active', 90_000, async () => {
        const [r] = await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM grants WHERE state = 'active'`,
        );
        return r!.n === N;
      });
      const ran = await sql.query<{ owner: string; n: number }>(
        `SELECT lease_owner AS owner, count(*)::int AS n FROM jobs WHERE state = 'done' GROUP BY 1`,
      );
      t.diagnostic(`jobs done by node: ${JSON.stringify(ran)}`);
      assert.ok(
        ran.some((r) => r.owner === survivor.workerId),
        'the surviving node took up work',
      );
      const pending = await sql.query(`SELECT id FROM jobs WHERE state <> 'done'`);
      assert.deepEqual(pending, [], 'every job done, none failed');
      const activated = await sql.query<{ subject: string; n: number }>(
        `SELECT subject, count(*)::int AS n FROM audit_events WHERE action = 'grant.activated' GROUP BY 1`,
      );
      assert.equal(activated.length, N, 'every grant activated');
      assert.ok(
        activated.every((a) => a.n === 1),
        'no grant activated twice',
      );
      const { ok, events } = await verifyAudit(sql);
      assert.deepEqual({ ok, events }, { ok: true, events: 2 * N });
      const members = await fx.admin.query<{ account: string }>(
        `SELECT a.rolname AS account FROM pg_auth_members m
           JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
          WHERE r.rolname = $1 ORDER BY 1`,
        [fx.role],
      );
      assert.deepEqual(
        members.rows.map((r) => r.account),
        fx.ids,
      );
    } finally {
      for (const n of nodes)
        if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
      await Promise.all(nodes.map((n) => exited(n.proc)));
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
