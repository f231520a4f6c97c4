import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dumpSchema } from './schema-dump.js';
import { testStore } from './test-store.js';

const committed = new URL('../../src/store/schema.sql', import.meta.url);

test('the migrated schema matches the committed dump, so no migration drifts unnoticed', async () => {
  const store = await testStore();
  try {
    const actual = await dumpSchema(store.sql);
    assert.equal(
      actual,
      readFileSync(committed, 'utf8'),
      'src/store/schema.sql is out of date: run `npm run schema:dump` and review the difference',
    );
  } finally {
    await store.close();
  }
});

test('the store refuses a state that the code does not know, in every state column', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    const refused = async (statement: string, constraint: string) =>
      assert.rejects(sql.query(statement), new RegExp(constraint), statement);
    await sql.query(
      `INSERT INTO identities (id, kind, status, created_at, updated_at) VALUES ('x@t', 'human', 'active', now(), now())`,
    );
    await refused(
      `UPDATE identities SET status = 'gone' WHERE id = 'x@t'`,
      'identities_status_check',
    );
    await refused(`UPDATE identities SET kind = 'robot' WHERE id = 'x@t'`, 'identities_kind_check');
    await refused(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, created_at)
       VALUES ('g', 'x@t', 'e', 'a', 'x@t', 'request', 'activ', now())`,
      'grants_state_check',
    );
    await refused(
      `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, status, decision, created_at)
       VALUES ('r', 'x@t', 'x@t', 'e', 'why', 'done', '{}', now())`,
      'requests_status_check',
    );
    await refused(
      `INSERT INTO jobs (kind, due_at, created_at, state) VALUES ('k', now(), now(), 'running')`,
      'jobs_state_check',
    );
  } finally {
    await store.close();
  }
});

test('every GIN index of the store is kept without a pending list (ADR 0050)', async () => {
  const store = await testStore();
  try {
    const gin = await store.sql.query<{ index: string; options: string[] | null }>(
      `SELECT c.relname AS index, c.reloptions AS options
         FROM pg_class c JOIN pg_am am ON am.oid = c.relam
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE am.amname = 'gin' AND n.nspname = 'public' ORDER BY 1`,
    );
    assert.ok(gin.length >= 4, 'the GIN indexes are found');
    for (const { index, options } of gin)
      assert.ok(
        options?.includes('fastupdate=off'),
        `${index}: a GIN index needs WITH (fastupdate = off), or its pending list stalls a writer`,
      );
  } finally {
    await store.close();
  }
});
