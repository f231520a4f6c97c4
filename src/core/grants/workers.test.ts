import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { verifyAudit } from '../audit/verify.js';
import { CatalogCache } from '../catalog/catalog.js';
import { toIdentity, type IdentityRow } from '../catalog/rows.js';
import { fixedClock } from '../clock.js';
import type { Connector, ConnectorSource } from '../ports/connector.js';
import { DEFAULT_SETTINGS } from '../model.js';
import { createGrant } from './grants.js';
import { drainOutbox } from './worker.js';
import { connectorSource } from '../../connectors/registry.js';
import { ident } from '../../connectors/postgres.js';
import { pgSql } from '../../store/pg-sql.js';
import { testStore, withDb, type TestStore } from '../../store/test-store.js';

const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const N = 60;
const WORKERS = 3;
const NOW = '2026-03-02T09:00:00.000Z';

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

async function reachable(url: string): Promise<string | undefined> {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('three workers sharing one database apply each grant exactly once', async (t) => {
  const unreachable = await reachable(SERVER_URL);
  if (unreachable) {
    t.skip(`no PostgreSQL server at ${SERVER_URL} (${unreachable})`);
    return;
  }
  const run = randomBytes(4).toString('hex');
  // Roles are cluster-global: every role this test makes carries the run's prefix.
  const prefix = `gh_w${run}_`;
  const role = `${prefix}reader`;
  const targetDb = `gatehouse_target_${run}`;
  const targetUrl = withDb(SERVER_URL, targetDb);

  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  let store: TestStore | undefined;
  const pools: pg.Pool[] = [];
  const sources: { closeAll(): Promise<void> }[] = [];
  try {
    await admin.query(`CREATE DATABASE ${ident(targetDb)}`);
    await admin.query(`CREATE ROLE ${ident(role)} NOLOGIN`);

    store = await serverTestStore();
    const { sql } = store;
    const at = new Date(NOW);

    // The catalog as `apply` would leave it: one app on one postgres connector, one entitlement.
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
    const ids = Array.from({ length: N }, (_, i) => `${prefix}u${String(i).padStart(3, '0')}`);
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, created_at, updated_at)
       SELECT id, 'human', 'active', id, $2, $2 FROM unnest($1::text[]) AS id`,
      [ids, at],
    );

    const seedCatalog = await new CatalogCache().get(sql);
    const entitlement = seedCatalog.entitlements.get('warehouse:reader');
    assert.ok(entitlement, 'the seeded entitlement is in the catalog');
    const identities = (await sql.query<IdentityRow>('SELECT * FROM identities ORDER BY id')).map(
      toIdentity,
    );
    const grantIds = await sql.transaction(async (tx) => {
      const out: string[] = [];
      for (const identity of identities) {
        out.push(
          await createGrant(tx, at, 'test', {
            identity,
            entitlement,
            requestId: null,
            trigger: 'request',
            emergency: false,
            duration: 3600,
          }),
        );
      }
      return out;
    });
    assert.equal(grantIds.length, N);

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

    // Three nodes: each its own pool, catalog cache, connectors and worker id.
    const workers = await Promise.all(
      Array.from({ length: WORKERS }, async (_, i) => {
        const pool = new pg.Pool({ connectionString: store!.location, max: 3 });
        pool.on('error', () => {});
        pools.push(pool);
        const wsql = pgSql(pool);
        const source = connectorSource(
          async (name) => (await new CatalogCache().get(wsql)).connectors.get(name),
          { env: { TARGET_URL: targetUrl }, dataDir: '/nonexistent' },
        );
        sources.push(source);
        const catalog = await new CatalogCache().get(wsql);
        return {
          sql: wsql,
          clock: fixedClock(NOW),
          catalog,
          connectors: counting(source),
          workerId: `worker-${i + 1}`,
        };
      }),
    );

    const started = Date.now();
    const results = await Promise.all(workers.map((w) => drainOutbox(w)));
    t.diagnostic(
      `${N} grants drained in ${Date.now() - started} ms: ${results.map((r) => r.done).join(' / ')} per worker, at most ${maxInFlight} applies in flight`,
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
      assert.ok(
        r.done > 0,
        `worker-${i + 1} ran jobs (per worker: ${results.map((x) => x.done).join(', ')})`,
      );
    }
    assert.ok(maxInFlight >= 2, 'applies of different workers ran at the same time');

    // Each account was applied exactly once.
    assert.equal(
      [...applies.values()].reduce((s, n) => s + n, 0),
      N,
      'N apply calls in all',
    );
    assert.deepEqual([...applies.keys()].sort(), ids, 'one account per identity');
    for (const [account, n] of applies) assert.equal(n, 1, `${account} applied once`);

    const states = await sql.query<{ state: string; n: number }>(
      'SELECT state, count(*)::int AS n FROM grants GROUP BY state',
    );
    assert.deepEqual(states, [{ state: 'active', n: N }], 'every grant is active');
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
    }>('SELECT grant_id, op, state, attempts, lease_owner FROM outbox ORDER BY id');
    assert.equal(outbox.length, N, 'one outbox row per grant');
    assert.deepEqual(outbox.map((o) => o.grant_id).sort(), [...grantIds].sort());
    for (const o of outbox) {
      assert.deepEqual(
        { op: o.op, state: o.state, attempts: o.attempts },
        { op: 'apply', state: 'done', attempts: 1 },
        `outbox row of ${o.grant_id}`,
      );
    }
    // Who leased each row agrees with what each worker says it ran.
    for (const [i, w] of workers.entries()) {
      const leased = outbox.filter((o) => o.lease_owner === w.workerId).length;
      assert.equal(leased, results[i]!.done, `${w.workerId} leased what it ran`);
    }

    const activated = await sql.query<{ subject: string; actor: string }>(
      `SELECT subject, actor FROM audit_events WHERE action = 'grant.activated' ORDER BY seq`,
    );
    assert.equal(activated.length, N, 'N grant.activated events');
    assert.deepEqual(activated.map((e) => e.subject).sort(), [...grantIds].sort(), 'one per grant');
    const created = await sql.query(`SELECT 1 FROM audit_events WHERE action = 'grant.created'`);
    assert.equal(created.length, N, 'N grant.created events');
    // Concurrent appends queued on the head row: the chain has no fork and verifies.
    assert.deepEqual(await verifyAudit(sql), { ok: true, events: 2 * N });

    // The target itself holds exactly those N memberships.
    const members = await admin.query<{ account: string }>(
      `SELECT a.rolname AS account FROM pg_auth_members m
         JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
        WHERE r.rolname = $1 ORDER BY 1`,
      [role],
    );
    assert.deepEqual(
      members.rows.map((r) => r.account),
      ids,
      `the target role has the ${N} accounts as members`,
    );
  } finally {
    await Promise.allSettled(sources.map((s) => s.closeAll()));
    await Promise.allSettled(pools.map((p) => p.end()));
    await store?.close().catch(() => undefined);
    await dropDatabase(admin, targetDb).catch(() => undefined);
    const roles = await admin
      .query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, [
        prefix,
      ])
      .catch(() => ({ rows: [] as { rolname: string }[] }));
    // Members before the role they belong to: DROP ROLE removes memberships either way.
    for (const r of roles.rows) {
      await admin.query(`DROP ROLE IF EXISTS ${ident(r.rolname)}`).catch(() => undefined);
    }
    await admin.end();
  }
});
