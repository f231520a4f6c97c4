import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { pageQuery } from './grants-side.js';

test("a target's grants are read a page at a time as an ordered range of grants_reconcile, never a sort of the whole target, on statistics taken while the table was empty", async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // Statistics of an empty table, then 20,000 live grants of one entitlement loaded after.
    await sql.query('ANALYZE grants');
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at,
         granted_at, expires_at, verified_at)
       SELECT 'grt_' || i, 'acct' || i, 'wiki:read', 'wiki', 'acct' || i, 'request', 'active', 3600,
         now(), now(), now() + interval '1 day', now()
       FROM generate_series(1, 20000) AS i`,
    );
    const q = pageQuery(['wiki:read'], '', { account: 'acct5000', id: 'grt_5000' }, 1000);
    const rows = await sql.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${q.text}`, q.params);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(plan, /grants_reconcile/, plan);
    assert.doesNotMatch(plan, /Sort|Bitmap/, plan);
    // And the page is right: the next accounts after the keyset, in byte order.
    const page = await sql.query<{ account: string }>(q.text, q.params);
    assert.equal(page.length, 1000);
    const expected = Array.from({ length: 20000 }, (_, i) => `acct${i + 1}`)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .filter((a) => Buffer.compare(Buffer.from(a), Buffer.from('acct5000')) > 0)
      .slice(0, 1000);
    assert.deepEqual(
      page.map((r) => r.account),
      expected,
    );
  } finally {
    await store.close();
  }
});
