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
