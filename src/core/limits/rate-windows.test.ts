import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countHits } from './rate-windows.js';
import { testStore } from '../../store/test-store.js';

const AT = new Date('2026-03-02T09:00:30.000Z');

test('hits add up per key within a window and start again in the next', async () => {
  const store = await testStore();
  try {
    await countHits(store.sql, ['a', 'b'], 60_000, AT);
    const second = await countHits(store.sql, ['a'], 60_000, AT);
    assert.deepEqual(
      second.map((c) => [c.key, c.hits]),
      [['a', 2]],
    );
    assert.equal(second[0]!.resetInMs, 30_000);
    const next = await countHits(store.sql, ['a', 'b'], 60_000, new Date(AT.getTime() + 60_000));
    assert.deepEqual(
      next.map((c) => [c.key, c.hits]),
      [
        ['a', 1],
        ['b', 1],
      ],
    );
  } finally {
    await store.close();
  }
});
