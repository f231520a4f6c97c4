import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Sql } from '../sql.js';
import { pgSql } from '../../store/pg-sql.js';
import { testStore, type TestStore } from '../../store/test-store.js';
import { appendAudit, auditedTransaction, recordAudit } from './chain.js';
import { verifyAudit } from './verify.js';

const T0 = Date.parse('2025-03-01T09:00:00.000Z');
const at = (i: number) => new Date(T0 + i * 60_000);

async function withStore(fn: (s: TestStore) => Promise<void>): Promise<void> {
  const store = await testStore();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

const event = (subject: string) => ({
  actor: 'alice@acme.test',
  action: 'config.applied' as const,
  subject,
});

async function subjects(sql: Sql): Promise<{ seq: number; subject: string; at: Date }[]> {
  const rows = await sql.query<{ seq: number | string; subject: string; at: Date | string }>(
    'SELECT seq, subject, at FROM audit_events ORDER BY seq',
  );
  return rows.map((r) => ({ seq: Number(r.seq), subject: r.subject, at: new Date(r.at) }));
}

test('events recorded in an audited transaction are appended at its end, in the order recorded, each with its own time', async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(sql, async (tx) => {
      await recordAudit(tx, at(1), event('first'));
      // Nothing is appended, and the head is not locked, until the use case is done.
      assert.deepEqual(await tx.query('SELECT seq FROM audit_events'), []);
      // A nested use case joins the outer transaction and its append.
      await auditedTransaction(tx, (inner) => recordAudit(inner, at(2), event('second')));
      await recordAudit(tx, at(3), event('third'));
    });
    assert.deepEqual(await subjects(sql), [
      { seq: 1, subject: 'first', at: at(1) },
      { seq: 2, subject: 'second', at: at(2) },
      { seq: 3, subject: 'third', at: at(3) },
    ]);
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test('an event appended at once inside an audited transaction still follows the ones recorded before it', async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(sql, async (tx) => {
      await recordAudit(tx, at(1), event('recorded'));
      await appendAudit(tx, at(2), event('appended'));
      await recordAudit(tx, at(3), event('recorded later'));
    });
    assert.deepEqual(
      (await subjects(sql)).map((e) => e.subject),
      ['recorded', 'appended', 'recorded later'],
    );
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test('outside an audited transaction an event is recorded at once', async () => {
  await withStore(async ({ sql }) => {
    await sql.transaction(async (tx) => {
      await recordAudit(tx, at(1), event('now'));
      assert.equal((await tx.query('SELECT seq FROM audit_events')).length, 1);
    });
  });
});

test('a use case that fails leaves neither its change nor its events, and the chain goes on from where it was', async () => {
  await withStore(async ({ sql }) => {
    await assert.rejects(
      auditedTransaction(sql, async (tx) => {
        await tx.query(`INSERT INTO meta (key, value) VALUES ('deferred-test', 'x')`);
        await recordAudit(tx, at(1), event('lost'));
        throw new Error('the use case failed');
      }),
      /the use case failed/,
    );
    assert.deepEqual(await sql.query(`SELECT key FROM meta WHERE key = 'deferred-test'`), []);
    await auditedTransaction(sql, (tx) => recordAudit(tx, at(2), event('kept')));
    assert.deepEqual(
      (await subjects(sql)).map((e) => [e.seq, e.subject]),
      [[1, 'kept']],
    );
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test("racing audited transactions on separate connections leave one gap-free chain, each transaction's events together and in order", async () => {
  await withStore(async (store) => {
    // PGlite has one connection: the race is the server's.
    const pool =
      store.kind === 'server'
        ? new pg.Pool({ connectionString: store.location, max: 8 })
        : undefined;
    // The store's close terminates idle connections: without a listener that is an uncaught
    // exception in whichever test runs then (CI, 2026-12-06).
    pool?.on('error', () => undefined);
    const sql = pool ? pgSql(pool) : store.sql;
    try {
      await Promise.all(
        Array.from({ length: 8 }, (_, w) =>
          (async () => {
            for (let i = 0; i < 10; i++) {
              await auditedTransaction(sql, async (tx) => {
                for (let k = 0; k < 3; k++) {
                  await recordAudit(tx, at(i), event(`w${w}-t${i}-e${k}`));
                  // Give the other writers room to interleave their statements with ours.
                  await tx.query('SELECT 1');
                }
              });
            }
          })(),
        ),
      );
      const events = await subjects(sql);
      assert.equal(events.length, 8 * 10 * 3);
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
      );
      for (let i = 0; i < events.length; i += 3) {
        const prefix = events[i]!.subject.replace(/-e0$/, '');
        assert.deepEqual(
          events.slice(i, i + 3).map((e) => e.subject),
          [`${prefix}-e0`, `${prefix}-e1`, `${prefix}-e2`],
        );
      }
      const verified = await verifyAudit(sql);
      assert.equal(verified.ok, true);
      assert.equal(verified.events, 240);
    } finally {
      await pool?.end();
    }
  });
});
