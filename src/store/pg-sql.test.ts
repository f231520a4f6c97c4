import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { auditedTransaction, recordAudit } from '../core/audit/chain.js';
import { lockIdentity } from '../core/decision/inputs.js';
import { pgSql } from './pg-sql.js';
import { testStore } from './test-store.js';

const server = process.env.DATABASE_URL;
const skip = server ? false : 'the BEGIN travels with the first statement only on node-postgres';

/** The store on its own pool, every message a connection sends recorded as its text. */
async function recorded(fn: (sql: ReturnType<typeof pgSql>, sent: string[]) => Promise<void>) {
  const store = await testStore();
  const pool = new pg.Pool({ connectionString: store.location, max: 2 });
  pool.on('error', () => undefined); // idle connections the store's close terminates
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

test(
  "a transaction's COMMIT and the statement after it go as one message, the statement's rows handed back",
  { skip },
  () =>
    recorded(async (sql, sent) => {
      let took: Record<string, unknown>[] | undefined;
      await sql.transaction(
        (tx) => tx.query(`UPDATE identities SET display_name = 'y' WHERE id = $1`, ['nobody']),
        () => ({ text: 'SELECT 7 AS n', took: (rows) => (took = rows) }),
      );
      assert.deepEqual(took, [{ n: 7 }]);
      assert.deepEqual(
        sent.map((s) => s.split(' ')[0]),
        ['BEGIN', 'UPDATE', 'COMMIT;'],
      );
      assert.equal(sent.at(-1), 'COMMIT; SELECT 7 AS n');
    }),
);

test(
  'a COMMIT that fails fails the transaction, and the statement after it does not run',
  { skip },
  () =>
    recorded(async (sql) => {
      let took = false;
      // A deferred check fails at COMMIT: the change is not kept and nothing after it ran.
      await assert.rejects(
        sql.transaction(
          async (tx) => {
            await tx.query(
              `CREATE TEMP TABLE t (x int UNIQUE DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP`,
            );
            await tx.query('INSERT INTO t VALUES (1), (1)');
          },
          () => ({ text: 'SELECT 1', took: () => (took = true) }),
        ),
        /duplicate key/,
      );
      assert.equal(took, false);
    }),
);

test(
  "an audited transaction's sequencer run goes with its COMMIT, and its events are chained when it returns",
  { skip },
  () =>
    recorded(async (sql, sent) => {
      await auditedTransaction(sql, (tx) =>
        recordAudit(tx, new Date('2026-03-02T09:00:00.000Z'), {
          actor: 'a',
          action: 'config.applied',
          subject: 'with-the-commit',
        }),
      );
      assert.match(sent.at(-1)!, /^COMMIT; SELECT .* FROM audit_sequence_quietly\(/);
      assert.equal(sent.filter((s) => s.includes('audit_sequence')).length, 1, sent.join('\n'));
      const chained = await sql.query<{ subject: string }>(
        `SELECT subject FROM audit_events WHERE subject = 'with-the-commit'`,
      );
      assert.equal(chained.length, 1);
    }),
);
