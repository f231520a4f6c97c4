import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import type { Sql } from '../sql.js';
import { FACTS_SQL } from '../decision/inputs.js';
import { pgSql } from '../../store/pg-sql.js';
import { testStore } from '../../store/test-store.js';
import { refreshStatistics } from './statistics.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

/** People `from`..`to`, each holding wiki:read: about 25 grants to a page. */
async function grow(sql: Sql, from: number, to: number): Promise<void> {
  await sql.query(
    `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
     SELECT 'st' || g || '@acme.test', 'human', 'active', 'St ' || g, 'Dept' || (g % 7), 'Title' || (g % 5),
            '', '', '{}', 'test', now(), now()
       FROM generate_series($1::int, $2::int) g`,
    [from, to],
  );
  await sql.query(
    `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
     SELECT 'grt_st' || g, 'st' || g || '@acme.test', 'wiki:read', 'wiki', 'st' || g || '@acme.test',
            'request', 'active', 3600, now(), now(), now() + interval '1 day', now()
       FROM generate_series($1::int, $2::int) g`,
    [from, to],
  );
}

const analyzed = async (sql: Sql, tables: string[]) =>
  (
    await sql.query<{ relname: string; reltuples: number }>(
      `SELECT relname, reltuples FROM pg_class WHERE relname = ANY($1::text[]) ORDER BY relname`,
      [tables],
    )
  ).map((r) => [r.relname, Number(r.reltuples) >= 0]);

test('planner statistics are refreshed for the tables grown by a tenth at every run, and for all of ten pages or more once per interval of the engine clock', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    await grow(sql, 1, 2000);
    assert.deepEqual(
      await refreshStatistics(sql, at(0), 10),
      ['grants', 'identities'],
      'first run: the tables of ten pages or more; the empty ones are left unanalyzed',
    );
    assert.deepEqual(
      await refreshStatistics(sql, at(5), 10),
      [],
      'nothing grew, within the interval',
    );
    await grow(sql, 2001, 3000);
    assert.deepEqual(
      await refreshStatistics(sql, at(6), 10),
      ['grants', 'identities'],
      'grown by half: analyzed again at once, whatever the clock',
    );
    assert.deepEqual(await refreshStatistics(sql, at(7), 10), []);
    await grow(sql, 3001, 3020);
    assert.deepEqual(await refreshStatistics(sql, at(8), 10), [], 'grown by less than a tenth');
    assert.deepEqual(
      await refreshStatistics(sql, at(10), 10),
      ['grants', 'identities'],
      'after the interval: every table of ten pages or more',
    );
    assert.deepEqual(await refreshStatistics(sql, at(19), 10), []);
    // A clock set back (a simulation at an earlier --now) does not block it until then.
    assert.deepEqual(await refreshStatistics(sql, at(-60), 10), ['grants', 'identities']);
    const [row] = await sql.query<{ last_run_at: Date }>(
      `SELECT last_run_at FROM maintenance_runs WHERE name = 'analyze'`,
    );
    assert.equal(row?.last_run_at.getTime(), at(-60).getTime());
    // reltuples is -1 for a table never analyzed: the empty requests table is planned as ten
    // pages, and the queue is left alone, its plans must not depend on a moment's statistics.
    assert.deepEqual(await analyzed(sql, ['grants', 'jobs', 'requests']), [
      ['grants', true],
      ['jobs', false],
      ['requests', false],
    ]);
  } finally {
    await store.close();
  }
});

test('a prepared decision statement planned while the grants were empty reads them by index once they have grown and the statistics are refreshed', async () => {
  const store = await testStore();
  try {
    await store.sql.transaction(async (tx) => {
      // What an ANALYZE of the empty store leaves (an operator's, or the sweep before ADR 0055).
      await tx.query('ANALYZE grants, peer_holders');
      await tx.query(`PREPARE facts(text, text, text, text[]) AS ${FACTS_SQL}`);
      // A connection keeps its prepared statement's generic plan: made now, on an empty table.
      await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
      const args = `('st1@acme.test', 'st1@acme.test', 'wiki:read', ARRAY[]::text[])`;
      await tx.query(`EXECUTE facts${args}`);
      const plan = async () =>
        (await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE facts${args}`))
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      assert.match(await plan(), /Seq Scan on grants/, 'the empty table costs nothing to scan');
      await grow(tx, 1, 3000);
      assert.match(
        await plan(),
        /Seq Scan on grants/,
        'grown to 3,000 grants, the plan made when it was empty still scans every one',
      );
      assert.ok((await refreshStatistics(tx, at(0), 10)).includes('grants'));
      const after = await plan();
      assert.doesNotMatch(after, /Seq Scan on (grants|peer_holders|identities)/, after);
      await tx.query('DEALLOCATE facts');
    });
  } finally {
    await store.close();
  }
});

test('two processes refreshing the statistics at once analyze the tables once: the second finds the first at it and does nothing', async () => {
  const store = await testStore();
  // PGlite has one connection: the processes are the server's connections.
  const pool =
    store.kind === 'server' ? new pg.Pool({ connectionString: store.location, max: 4 }) : undefined;
  pool?.on('error', () => undefined);
  try {
    const { sql } = store;
    const other = pool ? pgSql(pool) : sql;
    await grow(sql, 1, 2000);
    const runs = await Promise.all([
      refreshStatistics(sql, at(0), 10),
      refreshStatistics(other, at(0), 10),
    ]);
    assert.deepEqual(
      runs.map((r) => r.join(',')).sort(),
      ['', 'grants,identities'],
      'one analyzes the grown tables; the other, under the lock or after it, finds nothing due',
    );
    if (!pool) return;
    // Deterministically: while one process holds the task, another skips it at once, whatever
    // is due, instead of queueing behind its ANALYZE.
    await grow(sql, 2001, 4000);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtext('gatehouse.statistics'))`);
      assert.deepEqual(await refreshStatistics(sql, at(1), 10), [], 'held elsewhere: skipped');
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    const after = await refreshStatistics(sql, at(1), 10);
    assert.ok(after.includes('grants') && after.includes('identities'), after.join(', '));
  } finally {
    await pool?.end();
    await store.close();
  }
});
