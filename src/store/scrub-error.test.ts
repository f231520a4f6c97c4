import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from './test-store.js';

test('a store error that quotes a connection string carries no password', async () => {
  const store = await testStore();
  try {
    for (const value of ['postgres://app:hunter2@db.test/x', 'host=db password=hunter2']) {
      const e = await store.sql.query('SELECT $1::int', [value]).then(
        () => assert.fail('the cast should fail'),
        (err: Error) => err,
      );
      assert.match(e.message, /invalid input syntax for type integer/);
      assert.doesNotMatch(e.message, /hunter2/);
      assert.equal((e as { code?: string }).code, '22P02', 'the SQLSTATE survives');
      const inTx = await store.sql
        .transaction((tx) => tx.query('SELECT $1::int', [value]))
        .then(
          () => assert.fail('the cast should fail'),
          (err: Error) => err,
        );
      assert.doesNotMatch(inTx.message, /hunter2/);
    }
  } finally {
    await store.close();
  }
});
