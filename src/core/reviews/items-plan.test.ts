import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { planning } from '../../testing/planning.js';
import { campaignView, listOpenItems } from './view.js';

const ITEMS = 100_000;

test("one reviewer's open items and a campaign's page are read by index among 100,000 items, on statistics taken when the store was small, and paging returns exactly theirs", async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // Statistics taken on a small store: a few dozen items over a handful of reviewers.
    await sql.query(
      `INSERT INTO review_items (id, kind, identity, reviewers, created_at)
       SELECT 'itm_early' || lpad(g::text, 6, '0'), 'mover', 'p' || g || '@acme.test',
              ARRAY['mgr' || (g % 6) || '@acme.test'], now() - interval '30 days'
         FROM generate_series(1, 60) g`,
    );
    await sql.query(
      `INSERT INTO review_campaigns (id, name, scope, reviewer, default_decision, status, due_at, created_by, created_at)
       VALUES ('rev_big', 'Big', 'app=crm', 'manager', 'revoke', 'open', now() + interval '14 days', 'gina@acme.test', now())`,
    );
    await sql.query('ANALYZE');
    // Then the store fills: a campaign of 100,000 items, most of them with a busy reviewer, one in
    // 2,000 with Ann, a third already decided.
    await sql.query(
      `INSERT INTO review_items (id, campaign_id, kind, identity, reviewers, decision, decided_by, decided_at, created_at)
       SELECT 'itm_' || lpad(g::text, 6, '0'), 'rev_big', 'campaign', 'o' || g || '@acme.test',
              CASE WHEN g % 2000 = 0 THEN ARRAY['ann@acme.test'] ELSE ARRAY['busy' || (g % 3) || '@acme.test'] END,
              CASE WHEN g % 3 = 0 THEN 'certify' END, CASE WHEN g % 3 = 0 THEN 'busy@acme.test' END,
              CASE WHEN g % 3 = 0 THEN now() END, now() - (g || ' seconds')::interval
         FROM generate_series(1, $1::int) g`,
      [ITEMS],
    );

    const p = planning(sql);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listOpenItems(
        p.sql,
        { limit: 10, ...(cursor ? { cursor } : {}) },
        'ann@acme.test',
      );
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const [want] = await sql.query<{ ids: string[] }>(
      `SELECT array_agg(id ORDER BY created_at, id) AS ids FROM review_items
        WHERE decision IS NULL AND 'ann@acme.test' = ANY(reviewers)`,
    );
    assert.deepEqual(seen, want!.ids, 'every open item of hers, once, oldest first');
    assert.equal(seen.length, 34);
    for (const plan of p.plans) {
      assert.match(plan, /review_items_reviewers/, plan);
      // Never the whole open queue walked in creation order, everyone else's items filtered out.
      assert.doesNotMatch(plan, /Seq Scan on review_items|review_items_open_page/, plan);
    }

    const q = planning(sql);
    const shown = await campaignView(q.sql, 'rev_big', undefined, { limit: 50 });
    assert.equal(shown.items.length, 50);
    assert.equal(shown.counts.items, ITEMS);
    for (const plan of q.plans) assert.doesNotMatch(plan, /Seq Scan on review_items/, plan);
    assert.match(q.plans.at(-1)!, /review_items_campaign|review_items_pkey/, q.plans.at(-1));
  } finally {
    await store.close();
  }
});
