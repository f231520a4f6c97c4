import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, migrationFiles } from './migrate.js';
import { testStore } from './test-store.js';

test('migration 003 moves the pending outbox work into the job queue, on its connector’s queue, and drops the outbox', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // A store as version 2 left it: rebuild the schema from the first two files only.
    await sql.query('DROP SCHEMA public CASCADE');
    await sql.query('CREATE SCHEMA public');
    await sql.query(
      `CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const f of migrationFiles().filter((m) => m.version <= 2)) {
      for (const stmt of f.text.split(/;\s*$/m).map((s) => s.replace(/^\s*--.*$/gm, '').trim()))
        if (stmt) await sql.query(stmt);
      await sql.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        f.version,
        f.name,
      ]);
    }
    const at = new Date('2026-03-02T09:00:00.000Z');
    await sql.query(
      `INSERT INTO apps (id, name, risk, owner, connector) VALUES ('wiki', 'Wiki', 'low', 'erin', 'acme-db')`,
    );
    for (const [id, state] of [
      ['grt_a', 'provisioning'],
      ['grt_b', 'revoking'],
      ['grt_c', 'active'],
    ]) {
      await sql.query(
        `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, created_at)
         VALUES ($1, $1 || '@acme.test', 'wiki:read', 'wiki', 'bob', 'request', $2, $3)`,
        [id, state, at],
      );
    }
    await sql.query(
      `INSERT INTO outbox (grant_id, op, state, attempts, next_attempt_at, last_error, created_at) VALUES
         ('grt_a', 'apply', 'pending', 2, $1, 'connection refused', $2),
         ('grt_b', 'apply', 'cancelled', 1, $2, NULL, $2),
         ('grt_b', 'revoke', 'pending', 0, $2, NULL, $2),
         ('grt_c', 'apply', 'done', 1, $2, NULL, $2)`,
      [new Date(at.getTime() + 120_000), at],
    );

    assert.equal(await migrate(sql), migrationFiles().length - 2);
    const jobs = await sql.query<Record<string, unknown>>(
      `SELECT kind, subject, queue, dedupe_key, state, attempts, last_error, payload, due_at FROM jobs ORDER BY id`,
    );
    assert.deepEqual(jobs, [
      {
        kind: 'grant.apply',
        subject: 'grt_a',
        queue: 'acme-db',
        dedupe_key: 'grant.apply:grt_a',
        state: 'pending',
        attempts: 2,
        last_error: 'connection refused',
        payload: { grant_id: 'grt_a' },
        due_at: new Date(at.getTime() + 120_000),
      },
      {
        kind: 'grant.revoke',
        subject: 'grt_b',
        queue: 'acme-db',
        dedupe_key: 'grant.revoke:grt_b',
        state: 'pending',
        attempts: 0,
        last_error: null,
        payload: { grant_id: 'grt_b' },
        due_at: at,
      },
    ]);
    const outbox = await sql.query(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'outbox'`,
    );
    assert.deepEqual(outbox, []);
  } finally {
    await store.close();
  }
});
