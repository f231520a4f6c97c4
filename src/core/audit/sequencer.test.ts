import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Sql } from '../sql.js';
import { pgSql } from '../../store/pg-sql.js';
import { testStore, type TestStore } from '../../store/test-store.js';
import { appendAudit, auditedTransaction, recordAudit, sequenceAudit } from './chain.js';
import { exportAudit } from './export.js';
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

/** Connections of their own on the server (PGlite has one connection: there it is the store's). */
async function withConnections(
  store: TestStore,
  max: number,
  fn: (sql: Sql) => Promise<void>,
): Promise<void> {
  const pool =
    store.kind === 'server' ? new pg.Pool({ connectionString: store.location, max }) : undefined;
  // An idle connection the store's close terminates emits 'error' on the pool: without a
  // listener that is an uncaught exception and fails whichever test runs then.
  pool?.on('error', () => undefined);
  try {
    await fn(pool ? pgSql(pool) : store.sql);
  } finally {
    await pool?.end();
  }
}

const event = (subject: string) => ({
  actor: 'alice@acme.test',
  action: 'config.applied' as const,
  subject,
});

async function chained(
  sql: Sql,
): Promise<{ seq: number; subject: string; stage: number | null }[]> {
  const rows = await sql.query<{ seq: number | string; subject: string; stage_id: unknown }>(
    'SELECT seq, subject, stage_id FROM audit_events ORDER BY seq',
  );
  return rows.map((r) => ({
    seq: Number(r.seq),
    subject: r.subject,
    stage: r.stage_id === null ? null : Number(r.stage_id),
  }));
}

const staged = async (sql: Sql) =>
  Number((await sql.query<{ n: number | string }>('SELECT count(*) AS n FROM audit_stage'))[0]!.n);

/**
 * The store as a process sees it that dies right after its commit: the transaction goes through,
 * the sequencer run that would follow never reaches the store.
 */
function diesAfterCommit(sql: Sql): Sql {
  let dead = false;
  const killed = () => Promise.reject(new Error('the process was killed'));
  return {
    query: (text, params) => (dead ? killed() : sql.query(text, params)),
    transaction: async (fn) => {
      if (dead) return killed();
      try {
        return await sql.transaction(fn);
      } finally {
        dead = true;
      }
    },
  };
}

test('racing writers on separate connections while sequencers run leave every committed change chained once, in one gap-free chain, each transaction together', async () => {
  await withStore(async (store) => {
    await withConnections(store, 10, async (sql) => {
      const writers = 8;
      const perWriter = 12;
      let writing = true;
      const sequencer = (async () => {
        // A sequencer of its own (as another node's would be) beside the writers' own runs.
        while (writing) await sequenceAudit(sql);
      })();
      await Promise.all(
        Array.from({ length: writers }, (_, w) =>
          (async () => {
            for (let i = 0; i < perWriter; i++) {
              const key = `w${w}-t${i}`;
              const fail = i % 5 === 4;
              await auditedTransaction(sql, async (tx) => {
                await tx.query(`INSERT INTO meta (key, value) VALUES ($1, 'x')`, [key]);
                for (let k = 0; k < 3; k++) {
                  await recordAudit(tx, at(i), event(`${key}-e${k}`));
                  await tx.query('SELECT 1');
                }
                if (fail) throw new Error('rolled back');
              }).catch((e: Error) => assert.equal(e.message, 'rolled back'));
            }
          })(),
        ),
      );
      writing = false;
      await sequencer;

      const events = await chained(sql);
      const committed = (
        await sql.query<{ key: string }>(`SELECT key FROM meta WHERE key LIKE 'w%-t%'`)
      ).map((r) => r.key);
      assert.equal(committed.length, writers * (perWriter - Math.floor(perWriter / 5)));
      // Every committed change has its three events, once each; a rolled-back one has none.
      assert.deepEqual(
        events.map((e) => e.subject).sort(),
        committed.flatMap((k) => [`${k}-e0`, `${k}-e1`, `${k}-e2`]).sort(),
      );
      assert.equal(new Set(events.map((e) => e.stage)).size, events.length);
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
      );
      for (let i = 0; i < events.length; i += 3) {
        const key = events[i]!.subject.replace(/-e0$/, '');
        assert.deepEqual(
          events.slice(i, i + 3).map((e) => e.subject),
          [`${key}-e0`, `${key}-e1`, `${key}-e2`],
        );
      }
      assert.equal(await staged(sql), 0);
      const verified = await verifyAudit(sql);
      assert.equal(verified.ok, true);
      assert.equal(verified.events, events.length);
    });
  });
});

test("a writer's events are in the chain when its audited transaction returns", async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(sql, (tx) => recordAudit(tx, at(1), event('mine')));
    assert.deepEqual(
      (await chained(sql)).map((e) => e.subject),
      ['mine'],
    );
    assert.equal(await staged(sql), 0);
  });
});

test('a rolled-back audited transaction leaves nothing in the stage or the chain', async () => {
  await withStore(async ({ sql }) => {
    await assert.rejects(
      auditedTransaction(sql, async (tx) => {
        await recordAudit(tx, at(1), event('lost'));
        await tx.query('SELECT 1/0');
      }),
      /division by zero/,
    );
    assert.equal(await staged(sql), 0);
    assert.deepEqual(await chained(sql), []);
    assert.equal((await verifyAudit(sql)).events, 0);
  });
});

test('events committed by a process killed before sequencing are chained by the next run, and readers see them', async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(diesAfterCommit(sql), async (tx) => {
      await tx.query(`INSERT INTO meta (key, value) VALUES ('killed', 'x')`);
      await recordAudit(tx, at(1), event('committed, then killed'));
    });
    // Committed with its change, not yet chained.
    assert.equal(await staged(sql), 1);
    assert.deepEqual(await chained(sql), []);
    // A reader drains first: the export has it, and so does the chain afterwards.
    const lines: string[] = [];
    assert.equal(await exportAudit(sql, undefined, (l) => lines.push(l)), 1);
    assert.match(lines[0]!, /committed, then killed/);
    assert.equal(await staged(sql), 0);
    assert.equal(await sequenceAudit(sql), 0);
    const verified = await verifyAudit(sql);
    assert.equal(verified.ok, true);
    assert.equal(verified.events, 1);
  });
});

test('an event appended at once follows the staged events of changes committed before it', async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(diesAfterCommit(sql), (tx) =>
      recordAudit(tx, at(1), event('staged first')),
    );
    await sql.transaction((tx) => appendAudit(tx, at(2), event('appended after')));
    assert.deepEqual(
      (await chained(sql)).map((e) => [e.seq, e.subject]),
      [
        [1, 'staged first'],
        [2, 'appended after'],
      ],
    );
    assert.equal(await staged(sql), 0);
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test('staged events cannot be edited, wiped, or removed without being chained', async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(diesAfterCommit(sql), (tx) => recordAudit(tx, at(1), event('staged')));
    await auditedTransaction(diesAfterCommit(sql), (tx) => recordAudit(tx, at(2), event('second')));
    await assert.rejects(
      sql.query(`UPDATE audit_stage SET actor = 'mallory@acme.test'`),
      /append-only/,
    );
    // Checked once per statement over every row it removed (migration 035): none leaves.
    await assert.rejects(sql.query('DELETE FROM audit_stage'), /leave only once chained/);
    await assert.rejects(
      sql.query('DELETE FROM audit_stage WHERE id = (SELECT max(id) FROM audit_stage)'),
      /leave only once chained/,
    );
    await assert.rejects(sql.query('TRUNCATE audit_stage'), /append-only/);
    assert.equal(await staged(sql), 2);
    assert.equal(await sequenceAudit(sql), 2);
    assert.deepEqual(
      (await chained(sql)).map((e) => e.subject),
      ['staged', 'second'],
    );
    assert.equal(await staged(sql), 0);
  });
});

test('events staged before the store rendered their bodies (migration 029) are chained in order with the rest', async () => {
  await withStore(async ({ sql }) => {
    await auditedTransaction(diesAfterCommit(sql), (tx) =>
      recordAudit(tx, at(1), event('rendered first')),
    );
    // As a writer older than migration 029 staged it: no body.
    await sql.query(
      `INSERT INTO audit_stage (batch, at, actor, action, subject, details, refs)
       VALUES (nextval('audit_stage_batch'), $1, 'alice@acme.test', 'config.applied', 'staged by an older writer', '{"n": 1}', '{staged by an older writer}')`,
      [at(2)],
    );
    await auditedTransaction(diesAfterCommit(sql), (tx) =>
      recordAudit(tx, at(3), event('rendered after')),
    );
    assert.equal(await sequenceAudit(sql), 3);
    assert.deepEqual(
      (await chained(sql)).map((e) => [e.seq, e.subject]),
      [
        [1, 'rendered first'],
        [2, 'staged by an older writer'],
        [3, 'rendered after'],
      ],
    );
    assert.equal(await staged(sql), 0);
    assert.equal((await verifyAudit(sql)).ok, true);
  });
});

test("a writer's run sent with its commit that fails leaves the change committed, and the shared run chains its events", async () => {
  await withStore(async (store) => {
    // The driver ran the statement after COMMIT and it reported a failed run (no head), as
    // audit_sequence_quietly does when it cannot take the head in time.
    const failing: Sql = {
      query: (text, params) => store.sql.query(text, params),
      transaction: async (fn, after) => {
        const out = await store.sql.transaction(fn);
        after?.()?.took([{ chained: 0, head_seq: null, head_hash: null, legacy: false }]);
        return out;
      },
    };
    await auditedTransaction(failing, (tx) => recordAudit(tx, at(1), event('s1')));
    assert.deepEqual(
      (await chained(store.sql)).map((e) => e.subject),
      ['s1'],
    );
    assert.equal(await staged(store.sql), 0);
  });
});

test('the run sent with a commit never raises: a head held past its lock timeout chains nothing and says so', async (t) => {
  await withStore(async (store) => {
    if (store.kind !== 'server')
      return t.skip('one connection on PGlite: the head cannot be held apart');
    await withConnections(store, 2, async (sql) => {
      await sql.transaction((tx) =>
        tx.query(
          `INSERT INTO audit_stage (batch, at, actor, action, subject, details, refs, body_head, body_tail)
           VALUES (nextval('audit_stage_batch'), now(), 'a', 'config.applied', 's', '{}', '{}', NULL, NULL)`,
        ),
      );
      await sql.transaction(async (holder) => {
        await holder.query('SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE');
        const [run] = await sql.transaction(async (tx) => {
          await tx.query(`SET LOCAL lock_timeout = '100ms'`);
          return tx.query<{ chained: number; head_seq: number | null }>(
            'SELECT chained, head_seq FROM audit_sequence_quietly(1000)',
          );
        });
        assert.deepEqual({ ...run }, { chained: 0, head_seq: null });
      });
      assert.equal(await staged(sql), 1, 'left staged for the next run');
    });
  });
});
