import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { lockIdentity } from '../core/decision/inputs.js';
import { pgSql } from './pg-sql.js';
import { testStore } from './test-store.js';

const server = process.env.DATABASE_URL;
const skip = server ? false : 'the BEGIN travels with the first statement only on node-postgres';

/** The store on its own pool, every message a connection sends recorded as its text. */
async function recorded(fn: (sql: ReturnType<typeof pgSql>, sent: string[]) => Promise<void>) {
  const store = await testStore();
  const pool = new pg.Pool({ connectionString: store.location, max: 2 });
  const sent: string[] = [];
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      const q = a[0];
      sent.push(typeof q === 'string' ? q : (q as { text: string }).text);
      return query(...a);
    };
  });
  try {
    await store.sql.query(
      `INSERT INTO identities (id, kind, status, display_name, created_at, updated_at) VALUES ($1, 'human', 'active', 'x', now(), now())`,
      [`o'brien\\x@acme.test`],
    );
    await fn(pgSql(pool), sent);
  } finally {
    await pool.end();
    await store.close();
  }
}

test(
  'a transaction opened by locking an identity sends BEGIN and the lock as one message',
  { skip },
  () =>
    recorded(async (sql, sent) => {
      const found = await sql.transaction((tx) => lockIdentity(tx, `o'brien\\x@acme.test`));
      assert.equal(found, true, 'quotes and backslashes arrive as the same text');
      assert.deepEqual(
        sent.map((s) => s.split(' ').slice(0, 2).join(' ')),
        ['BEGIN; SELECT', 'COMMIT'],
      );
    }),
);

test('the lock sent with BEGIN holds until the transaction ends', { skip }, () =>
  recorded(async (sql) => {
    const other = sql;
    await sql.transaction(async (tx) => {
      await lockIdentity(tx, `o'brien\\x@acme.test`);
      await assert.rejects(
        other.transaction((t2) =>
          t2.query(`SELECT 1 FROM identities WHERE id = $1 FOR UPDATE NOWAIT`, [
            `o'brien\\x@acme.test`,
          ]),
        ),
        /could not obtain lock/,
      );
    });
  }),
);

test(
  'a value the simple protocol cannot carry goes the usual way, refused by the server',
  { skip },
  () =>
    recorded(async (sql, sent) => {
      await assert.rejects(sql.transaction((tx) => lockIdentity(tx, 'a\0b')));
      assert.equal(sent[0], 'BEGIN');
      assert.ok(sent.includes('ROLLBACK'));
    }),
);

test('a transaction that runs no statement sends neither BEGIN nor COMMIT', { skip }, () =>
  recorded(async (sql, sent) => {
    assert.equal(await sql.transaction(async () => 42), 42);
    assert.deepEqual(sent, []);
  }),
);
