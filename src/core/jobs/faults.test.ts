import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { gatehouse, type Gatehouse } from '../../app/gatehouse.js';
import { connectorSource } from '../../connectors/registry.js';
import { ident } from '../../connectors/postgres.js';
import { testStore, type TestStore } from '../../store/test-store.js';
import { faultProxy, type FaultProxy } from '../../testing/fault-proxy.js';
import { verifyAudit } from '../audit/verify.js';
import { CatalogCache } from '../catalog/catalog.js';
import { toIdentity, type IdentityRow } from '../catalog/rows.js';
import { type Clock, fixedClock, systemClock } from '../clock.js';
import { RefusedError } from '../errors.js';
import { createGrant } from '../grants/grants.js';
import { DEFAULT_SETTINGS } from '../model.js';
import type { RuntimeSettings } from './runtime.js';

const SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOUR = 3600;

/** Polls `check` until it holds; a bound on tries, not a timing assertion. */
async function until(what: string, check: () => Promise<boolean>, tries = 1500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`never happened: ${what}`);
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

async function serverTestStore(): Promise<TestStore> {
  const saved = process.env.DATABASE_URL;
  process.env.DATABASE_URL = process.env.DATABASE_URL || SERVER_URL;
  try {
    return await testStore();
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
}

interface Fixture {
  store: TestStore;
  /** In front of the `faulty` target: hangs, refuses or passes on demand. */
  proxy: FaultProxy;
  env: Record<string, string>;
  /** Identity ids, which are also the target accounts. */
  ids: string[];
  manager: string;
  roles: { healthy: string; faulty: string };
  clock: Clock & { advance(seconds: number): void };
  app(opts?: { clock?: Clock; runtime?: Partial<RuntimeSettings>; workerId?: string }): Gatehouse;
  /** New grants in `provisioning` with their apply jobs, in one transaction. */
  grant(entitlement: 'good:reader' | 'bad:reader', ids: string[], at?: Date): Promise<string[]>;
  members(role: string): Promise<string[]>;
  grantRow(id: string): Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * A Gatehouse store (PGlite or the server, or always the server with `server`) governing two real
 * PostgreSQL targets on the local server: `good` reached directly and `bad` through a fault proxy.
 * Roles are cluster-wide, so every role carries the run's prefix and is dropped afterwards.
 */
async function withFaults(
  t: TestContext,
  opts: { n: number; server?: boolean; at?: Date },
  fn: (fx: Fixture) => Promise<void>,
): Promise<void> {
  const down = await unreachable(SERVER_URL);
  if (down) {
    t.skip(`no PostgreSQL server for the targets at ${SERVER_URL} (${down})`);
    return;
  }
  const run = randomBytes(4).toString('hex');
  const prefix = `gh_f${run}_`;
  const roles = { healthy: `${prefix}healthy`, faulty: `${prefix}faulty` };
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  const at = opts.at ?? new Date('2026-03-02T09:00:00.000Z');
  const clock = fixedClock(at);
  let store: TestStore | undefined;
  const proxy = await faultProxy({ host: '127.0.0.1', port: 5432 }, 'postgres');
  const sources: { closeAll(): Promise<void> }[] = [];
  try {
    for (const r of Object.values(roles)) await admin.query(`CREATE ROLE ${ident(r)} NOLOGIN`);
    store = opts.server ? await serverTestStore() : await testStore();
    const { sql } = store;
    await sql.query(`INSERT INTO meta (key, value) VALUES ('created_at', $1)`, [at.toISOString()]);
    await sql.query(
      'INSERT INTO config_state (id, config_hash, settings, applied_at) VALUES (1, $1, $2, $3)',
      [`faults-${run}`, JSON.stringify(DEFAULT_SETTINGS), at],
    );
    for (const [name, url] of [
      ['healthy-db', '${GH_HEALTHY_URL}'],
      ['faulty-db', '${GH_FAULTY_URL}'],
    ]) {
      await sql.query('INSERT INTO connectors (name, type, settings) VALUES ($1, $2, $3)', [
        name,
        'postgres',
        JSON.stringify({ url, create_accounts: true }),
      ]);
    }
    for (const [app, connector, role] of [
      ['good', 'healthy-db', roles.healthy],
      ['bad', 'faulty-db', roles.faulty],
    ] as const) {
      await sql.query(
        'INSERT INTO apps (id, name, risk, owner, connector) VALUES ($1, $2, $3, $4, $5)',
        [app, app, 'low', 'owner', connector],
      );
      await sql.query(
        `INSERT INTO entitlements (id, app, risk, privileged, max_duration, default_duration, standing, kinds,
           requires_ticket, break_glass, approval, licence_tier, target)
         VALUES ($1, $2, 'low', false, NULL, 3600, true, $3, false, false, NULL, NULL, $4)`,
        [`${app}:reader`, app, ['human'], JSON.stringify({ role })],
      );
    }
    const manager = `${prefix}boss`;
    const ids = Array.from({ length: opts.n }, (_, i) => `${prefix}u${String(i).padStart(3, '0')}`);
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, manager, created_at, updated_at)
       SELECT id, 'human', 'active', id, $3, $2, $2 FROM unnest($1::text[]) AS id`,
      [[manager, ...ids], at, manager],
    );
    const env = { GH_HEALTHY_URL: SERVER_URL, GH_FAULTY_URL: proxy.url };
    const catalog = new CatalogCache();
    const fx: Fixture = {
      store,
      proxy,
      env,
      ids,
      manager,
      roles,
      clock,
      app(o = {}) {
        const connectors = connectorSource(
          async (name) => (await catalog.get(sql)).connectors.get(name),
          { env, dataDir: tmpdir() },
        );
        sources.push(connectors);
        return gatehouse({
          sql,
          clock: o.clock ?? clock,
          catalog,
          connectors,
          workerId: o.workerId ?? 'fault-test',
          ...(o.runtime ? { runtime: o.runtime } : {}),
        });
      },
      async grant(entitlementId, who, when = clock.now()) {
        const cat = await catalog.get(sql);
        const entitlement = cat.entitlements.get(entitlementId)!;
        const rows = await sql.query<IdentityRow>(
          'SELECT * FROM identities WHERE id = ANY($1::text[]) ORDER BY id',
          [who],
        );
        return sql.transaction(async (tx) => {
          const out: string[] = [];
          for (const identity of rows.map(toIdentity)) {
            out.push(
              await createGrant(tx, when, 'test', {
                identity,
                entitlement,
                requestId: null,
                trigger: 'request',
                emergency: false,
                duration: 8 * HOUR,
              }),
            );
          }
          return out;
        });
      },
      async members(role) {
        const r = await admin.query<{ account: string }>(
          `SELECT a.rolname AS account FROM pg_auth_members m
             JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
            WHERE r.rolname = $1 ORDER BY 1`,
          [role],
        );
        return r.rows.map((x) => x.account);
      },
      async grantRow(id) {
        const [g] = await sql.query('SELECT * FROM grants WHERE id = $1', [id]);
        return g!;
      },
    };
    await fn(fx);
    assert.equal((await verifyAudit(sql)).ok, true, 'the audit chain verifies');
  } finally {
    await proxy.close();
    await Promise.allSettled(sources.map((s) => s.closeAll()));
    await store?.close().catch(() => undefined);
    const left = await admin
      .query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [
        prefix,
      ])
      .catch(() => ({ rows: [] as { rolname: string }[] }));
    for (const r of left.rows)
      await admin.query(`DROP ROLE IF EXISTS ${ident(r.rolname)}`).catch(() => undefined);
    await admin.end();
  }
}

const states = async (fx: Fixture, ids: string[]) =>
  (
    await fx.store.sql.query<{ state: string }>(
      'SELECT state FROM grants WHERE id = ANY($1::text[]) ORDER BY id',
      [ids],
    )
  ).map((r) => r.state);

test("a hung target does not delay a healthy one: the healthy grants become active while the hung target's jobs still wait", async (t) => {
  await withFaults(t, { n: 12 }, async (fx) => {
    await fx.proxy.set('hang');
    // The hung target's jobs are queued first, so a queue in order would serve them first.
    const hung = await fx.grant(
      'bad:reader',
      fx.ids.slice(0, 8),
      new Date(fx.clock.now().getTime() - 60_000),
    );
    const healthy = await fx.grant('good:reader', fx.ids.slice(8));
    const app = fx.app({ runtime: { perQueue: 2, timeoutSeconds: 600 } });
    const sweeping = app.sweep();

    await until('the healthy grants are active', async () =>
      (await states(fx, healthy)).every((s) => s === 'active'),
    );
    assert.deepEqual(await states(fx, hung), Array(8).fill('provisioning'));
    const leased = await fx.store.sql.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM jobs WHERE state = 'pending' AND queue = 'faulty-db' AND lease_owner IS NOT NULL`,
    );
    const inFlight = Number(leased[0]!.n);
    assert.ok(inFlight >= 1 && inFlight <= 2, `at most 2 hung jobs in flight (${inFlight})`);
    assert.deepEqual(await fx.members(fx.roles.healthy), fx.ids.slice(8));

    // The hung target goes away altogether: its jobs fail, are rescheduled, and the sweep ends.
    await fx.proxy.set('refuse');
    const r = await sweeping;
    assert.equal(r.jobs_done, 4);
    assert.equal(r.failures.length, 8, 'each hung job failed once');
    for (const f of r.failures) {
      assert.equal(f.queue, 'faulty-db');
      assert.equal(f.final, false, 'a connection failure is retried');
    }
    assert.deepEqual(await states(fx, hung), Array(8).fill('provisioning'));
  });
});

test('a target refusing connections for longer than all the attempts fails the apply visibly; grants retry by the holder’s manager provisions it once the target is back, and nobody else may ask', async (t) => {
  await withFaults(t, { n: 2 }, async (fx) => {
    await fx.proxy.set('refuse');
    const [g] = await fx.grant('bad:reader', [fx.ids[0]!]);
    const app = fx.app();
    for (let i = 1; i <= 5; i++) {
      const r = await app.sweep();
      assert.equal(r.failures.length, 1, `attempt ${i} failed`);
      assert.equal(r.failures[0]!.final, i === 5, `attempt ${i} is final only at 5`);
      const row = await fx.grantRow(g!);
      assert.equal(row.state, i < 5 ? 'provisioning' : 'failed');
      assert.match(row.failure, /faulty-db/);
      fx.clock.advance(3 * HOUR);
    }
    const report = await app.report();
    assert.equal(report.failed_applies, 1);
    assert.equal(report.failed_revocations, 0);
    assert.equal(report.grants_retrying, 0, 'a given-up apply is not retrying');
    assert.deepEqual(report.jobs.failed_by_queue, { 'faulty-db': 1 });
    assert.equal((await app.sweep()).failures.length, 0, 'a failed apply is not retried by itself');

    await assert.rejects(
      app.retry(g!, fx.ids[1]!, 'cli'),
      RefusedError,
      'a colleague may not retry it',
    );
    await fx.proxy.set('pass');
    const view = await app.retry(g!, fx.manager, 'cli');
    assert.equal(view.state, 'provisioning');
    const r = await app.sweep();
    assert.equal(r.jobs_done, 1);
    assert.equal((await fx.grantRow(g!)).state, 'active');
    assert.deepEqual(await fx.members(fx.roles.faulty), [fx.ids[0]]);
    const events = await fx.store.sql.query<{ action: string; actor: string }>(
      `SELECT action, actor FROM audit_events WHERE subject = $1 ORDER BY seq`,
      [g],
    );
    assert.deepEqual(
      events.map((e) => e.action),
      [
        'grant.created',
        ...Array(4).fill('provision.retry_scheduled'),
        'grant.failed',
        'grant.retry_requested',
        'grant.activated',
      ],
    );
    assert.equal(events.find((e) => e.action === 'grant.retry_requested')!.actor, fx.manager);
  });
});

test('a revocation that cannot complete is revoke_failed and standing access, is retried until removal is verified, and keeps its SLA breach', async (t) => {
  await withFaults(t, { n: 1 }, async (fx) => {
    const [g] = await fx.grant('bad:reader', fx.ids);
    const app = fx.app();
    await app.sweep();
    assert.equal((await fx.grantRow(g!)).state, 'active');

    await fx.proxy.set('refuse');
    const requested = fx.clock.now();
    await app.revoke(g!, fx.ids[0]!, 'no longer needed', 'cli');
    for (let i = 1; i <= 7; i++) {
      const r = await app.sweep();
      assert.equal(r.failures.length, 1);
      assert.equal(r.failures[0]!.final, false, 'a revocation never gives up');
      assert.equal((await fx.grantRow(g!)).state, i < 5 ? 'revoking' : 'revoke_failed');
      fx.clock.advance(HOUR);
    }
    const during = await app.report();
    assert.equal(during.failed_revocations, 1);
    assert.equal(during.failed_applies, 0);
    assert.equal(during.standing_access, 1, 'the access may still be there');
    assert.equal(during.grants_retrying, 1);
    assert.equal(during.revocation_sla_breaches, 1);
    assert.deepEqual(await fx.members(fx.roles.faulty), fx.ids, 'still in the target');

    await fx.proxy.set('pass');
    const r = await app.sweep();
    assert.equal(r.jobs_done, 1);
    const row = await fx.grantRow(g!);
    assert.equal(row.state, 'revoked');
    assert.equal(
      row.revocation_latency_seconds,
      (fx.clock.now().getTime() - requested.getTime()) / 1000,
      'latency runs from the request to the verified removal',
    );
    assert.deepEqual(await fx.members(fx.roles.faulty), []);
    const after = await app.report();
    assert.equal(after.revocation_sla_breaches, 1, 'the breach is kept');
    assert.equal(after.failed_revocations, 0);
    assert.equal(after.standing_access, 0);
  });
});

test('a revoke racing an in-flight apply runs right after it, and the audit trail shows the access in between', async (t) => {
  await withFaults(t, { n: 2 }, async (fx) => {
    await fx.proxy.set('hang');
    const [g] = await fx.grant('bad:reader', [fx.ids[0]!]);
    const app = fx.app();
    const sweeping = app.sweep();
    await until('the apply is in flight', async () => fx.proxy.held > 0);
    await app.revoke(g!, fx.ids[0]!, 'changed my mind', 'cli');
    const jobs = await fx.store.sql.query<{ kind: string; state: string }>(
      'SELECT kind, state FROM jobs WHERE subject = $1 ORDER BY id',
      [g],
    );
    assert.deepEqual(
      jobs.map((j) => `${j.kind} ${j.state}`),
      ['grant.apply pending', 'grant.revoke pending'],
      'the apply in flight is left to finish',
    );
    await fx.proxy.set('pass');
    fx.proxy.release();
    const r = await sweeping;
    assert.equal(r.jobs_done, 2, 'the apply and the revoke');
    assert.deepEqual(r.failures, []);
    const row = await fx.grantRow(g!);
    assert.equal(row.state, 'revoked');
    assert.deepEqual(await fx.members(fx.roles.faulty), []);
    const events = await fx.store.sql.query<{ action: string; details: Record<string, unknown> }>(
      'SELECT action, details FROM audit_events WHERE subject = $1 ORDER BY seq',
      [g],
    );
    assert.deepEqual(
      events.map((e) => e.action),
      ['grant.created', 'grant.revoke_requested', 'grant.applied', 'grant.revoked'],
    );
    const revoked = events.at(-1)!.details;
    assert.equal(revoked.applied_at, events[2]!.details.applied_at, 'applied at, then revoked at');
    assert.ok(revoked.revoked_at);

    // A revoke that comes before any worker took the apply cancels it: nothing is applied, and
    // the cancelled apply is not counted as done.
    const [g2] = await fx.grant('bad:reader', [fx.ids[1]!]);
    await app.revoke(g2!, fx.ids[1]!, 'changed my mind', 'cli');
    const r2 = await app.sweep();
    assert.equal(r2.jobs_done, 1, 'only the revoke ran');
    const jobs2 = await fx.store.sql.query<{ kind: string; state: string }>(
      'SELECT kind, state FROM jobs WHERE subject = $1 ORDER BY id',
      [g2],
    );
    assert.deepEqual(
      jobs2.map((j) => `${j.kind} ${j.state}`),
      ['grant.apply cancelled', 'grant.revoke done'],
    );
  });
});

test('kill -9 of a worker in the middle of a job: another worker picks the job up once its short lease lapses', async (t) => {
  // Two processes share the store, so it is a server database; the worker runs on the real clock.
  await withFaults(t, { n: 1, server: true, at: new Date(Date.now() - 60_000) }, async (fx) => {
    await fx.proxy.set('hang');
    const [g] = await fx.grant('bad:reader', fx.ids);
    const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-kill-'));
    try {
      const child = spawn(process.execPath, [CLI, 'sweep', '--json'], {
        cwd,
        env: {
          ...process.env,
          ...fx.env,
          DATABASE_URL: fx.store.location,
          GATEHOUSE_JOB_LEASE: '3s',
          GATEHOUSE_TARGET_TIMEOUT: '10m',
        },
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.once('exit', r));
      const owner = `${hostname()}:${child.pid}`;
      await until('the child holds the job and its target call hangs', async () => {
        const [j] = await fx.store.sql.query<{ lease_owner: string | null }>(
          'SELECT lease_owner FROM jobs WHERE subject = $1',
          [g],
        );
        return j?.lease_owner === owner && fx.proxy.held > 0;
      });
      child.kill('SIGKILL');
      await exited;
      await fx.proxy.set('pass');

      const app = fx.app({ clock: systemClock, runtime: { leaseSeconds: 3 }, workerId: 'rescuer' });
      await until(
        'another worker completes the job',
        async () => {
          await app.sweep();
          return (await fx.grantRow(g!)).state === 'active';
        },
        2000,
      );
      const [job] = await fx.store.sql.query<{
        state: string;
        lease_owner: string;
        attempts: number;
      }>('SELECT state, lease_owner, attempts FROM jobs WHERE subject = $1', [g]);
      assert.deepEqual(job, { state: 'done', lease_owner: 'rescuer', attempts: 2 });
      assert.deepEqual(await fx.members(fx.roles.faulty), fx.ids);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
