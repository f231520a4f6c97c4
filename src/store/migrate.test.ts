import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { migrate, migrationFiles } from './migrate.js';
import { pgSql } from './pg-sql.js';
import { testStore, withDb } from './test-store.js';

const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const CORE_TABLES = [
  'approval_stages',
  'audit_events',
  'audit_head',
  'grants',
  'identities',
  'jobs',
  'requests',
];

async function tables(sql: Awaited<ReturnType<typeof testStore>>['sql']): Promise<string[]> {
  const rows = await sql.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

test('migrate builds the core schema on an empty store, and is a no-op the second time', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // testStore() hands out an already migrated copy: start again from an empty database.
    await sql.query('DROP SCHEMA public CASCADE');
    await sql.query('CREATE SCHEMA public');
    assert.deepEqual(await tables(sql), []);

    const files = migrationFiles();
    assert.ok(files.length > 0);
    assert.equal(await migrate(sql), files.length, 'the first run applies every migration');
    assert.equal(await migrate(sql), 0, 'the second run applies nothing');
    assert.equal(await migrate(sql), 0);

    const recorded = await sql.query<{ version: number; name: string }>(
      'SELECT version, name FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      recorded,
      files.map((f) => ({ version: f.version, name: f.name })),
      'each migration is recorded exactly once',
    );
    const have = await tables(sql);
    for (const t of [...CORE_TABLES, 'schema_migrations']) {
      assert.ok(have.includes(t), `table ${t} exists (have: ${have.join(', ')})`);
    }
    // Seed rows are written once, not once per run.
    const head = await sql.query('SELECT id, seq, hash FROM audit_head');
    assert.deepEqual(head, [{ id: 1, seq: 0, hash: 'genesis' }]);
  } finally {
    await store.close();
  }
});

test('a schema newer than this code is refused, saying so', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    const latest = migrationFiles().at(-1)!.version;
    assert.equal(await migrate(sql), 0, 'an up-to-date store migrates nothing');
    await sql.query(
      `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`,
    );
    await assert.rejects(migrate(sql), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /schema is version 9999, newer than this Gatehouse knows \(\d+\)/);
      assert.ok(e.message.includes(`(${latest})`), `names the newest known version: ${e.message}`);
      assert.match(e.message, /upgrade Gatehouse/);
      return true;
    });
    // Refusing changed nothing.
    const versions = await sql.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      versions.map((v) => v.version),
      [...migrationFiles().map((f) => f.version), 9999],
    );
  } finally {
    await store.close();
  }
});

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
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

test('nodes starting together on one new server database migrate it once, and none fails', async (t) => {
  const admin = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (e) {
    t.skip(`no PostgreSQL server at ${SERVER_URL} (${(e as Error).message})`);
    return;
  }
  const name = `gatehouse_migrate_race_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const pools: pg.Pool[] = [];
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    for (let i = 0; i < 3; i++) {
      const pool = new pg.Pool({ connectionString: withDb(SERVER_URL, name), max: 2 });
      pool.on('error', () => undefined); // idle connections a dropped database terminates
      pools.push(pool);
    }
    const results = await Promise.allSettled(pools.map((p) => migrate(pgSql(p))));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    assert.deepEqual(errors, [], 'no migrator failed');
    const applied = results.map((r) => (r.status === 'fulfilled' ? r.value : -1));
    const files = migrationFiles();
    assert.equal(
      applied.reduce((s, n) => s + n, 0),
      files.length,
      `each migration applied by exactly one node (${applied.join(', ')})`,
    );
    const sql = pgSql(pools[0]!);
    const recorded = await sql.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      recorded.map((r) => r.version),
      files.map((f) => f.version),
    );
    assert.deepEqual(await sql.query('SELECT id, seq, hash FROM audit_head'), [
      { id: 1, seq: 0, hash: 'genesis' },
    ]);
  } finally {
    await Promise.allSettled(pools.map((p) => p.end()));
    await dropDatabase(admin, name).catch(() => undefined);
    await admin.end();
  }
});
