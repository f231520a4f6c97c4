import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { refreshStatistics } from './sweep.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

test('planner statistics are refreshed at most once per interval of the engine clock', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    assert.equal(await refreshStatistics(sql, at(0), 10), true, 'first run refreshes');
    assert.equal(await refreshStatistics(sql, at(5), 10), false, 'within the interval: skipped');
    assert.equal(await refreshStatistics(sql, at(10), 10), true, 'after the interval: again');
    assert.equal(await refreshStatistics(sql, at(19), 10), false);
    // A clock set back (a simulation at an earlier --now) does not block it until then.
    assert.equal(await refreshStatistics(sql, at(-60), 10), true);
    const [row] = await sql.query<{ last_run_at: Date }>(
      `SELECT last_run_at FROM maintenance_runs WHERE name = 'analyze'`,
    );
    assert.equal(row?.last_run_at.getTime(), at(-60).getTime());
    // The planner now knows what the tables hold (reltuples is -1 for a table never analyzed);
    // the queue is left alone, its plans must not depend on a moment's statistics.
    const stats = await sql.query<{ relname: string; reltuples: number }>(
      `SELECT relname, reltuples FROM pg_class WHERE relname IN ('grants', 'jobs', 'requests', 'audit_events') ORDER BY relname`,
    );
    assert.deepEqual(
      stats.map((r) => [r.relname, Number(r.reltuples) >= 0]),
      [
        ['audit_events', true],
        ['grants', true],
        ['jobs', false],
        ['requests', true],
      ],
    );
  } finally {
    await store.close();
  }
});
