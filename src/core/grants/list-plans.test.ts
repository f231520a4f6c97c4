import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { planning } from '../../testing/planning.js';
import { listIdentities } from '../identities/view.js';
import { listGrants } from './view.js';

const OTHERS = 20_000;

test("a person's who-has-what page and their identities are read by index from what they may see, on statistics taken when the store was small, and paging returns exactly what they may see", async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // Statistics taken on a small store: Ann, two reports, an owned service account …
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       VALUES ('ann@acme.test', 'human', 'active', 'Ann', 'ops', 'lead', '', '', '{}', 'test', now(), now()),
              ('rep1@acme.test', 'human', 'active', 'Rep 1', 'ops', 'analyst', 'ann@acme.test', '', '{}', 'test', now(), now()),
              ('rep2@acme.test', 'human', 'active', 'Rep 2', 'ops', 'analyst', 'ann@acme.test', '', '{}', 'test', now(), now()),
              ('svc:ann', 'service_account', 'active', 'Ann''s bot', 'ops', '', '', 'ann@acme.test', '{}', 'test', now(), now())`,
    );
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_ann' || g, 'ann@acme.test', 'wiki:e' || g, 'wiki', 'ann@acme.test', 'request', 'active', 3600,
              now() - (g || ' hours')::interval, now(), now() + interval '1 day', now()
         FROM generate_series(1, 3) g`,
    );
    // … and a few dozen colleagues with as many grants, as a store in its first weeks.
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       SELECT 'early' || g || '@acme.test', 'human', 'active', 'Early', 'eng', 'dev', 'mgr' || (g % 8) || '@acme.test',
              '', '{}', 'test', now(), now()
         FROM generate_series(0, 119) g`,
    );
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_early' || g, 'early' || (g % 40) || '@acme.test', 'wiki:e' || g, 'wiki', 'early' || (g % 40) || '@acme.test',
              'request', 'active', 3600, now() - interval '30 days', now(), now() + interval '1 day', now()
         FROM generate_series(1, 120) g`,
    );
    await sql.query('ANALYZE');
    // Then the store fills with everyone else's access; a slice of it in Ann's app `ledger`, and
    // her service account's grants, which she owns.
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       SELECT 'o' || g || '@acme.test', 'human', 'active', 'Other', 'sales', 'rep', 'boss@acme.test', '', '{}', 'test', now(), now()
         FROM generate_series(1, $1::int) g`,
      [OTHERS],
    );
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_o' || g, CASE WHEN g % 500 = 0 THEN 'svc:ann' ELSE 'o' || g || '@acme.test' END,
              CASE WHEN g % 100 = 0 THEN 'ledger:e' || g ELSE 'crm:e' || (g % 7) END,
              CASE WHEN g % 100 = 0 THEN 'ledger' ELSE 'crm' END,
              CASE WHEN g % 500 = 0 THEN 'ann@acme.test' ELSE 'o' || g || '@acme.test' END,
              'request', 'active', 3600, now() - (g || ' minutes')::interval, now(), now() + interval '1 day', now()
         FROM generate_series(1, $1::int) g`,
      [OTHERS],
    );

    const visibleTo = { id: 'ann@acme.test', apps: ['ledger'], governance: false };
    const p = planning(sql);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listGrants(
        p.sql,
        { visibleTo },
        { limit: 25, ...(cursor ? { cursor } : {}) },
      );
      seen.push(...page.grants.map((g) => g.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const [want] = await sql.query<{ ids: string[] }>(
      `SELECT array_agg(id ORDER BY created_at, id) AS ids FROM grants
        WHERE (identity = 'ann@acme.test' OR owner = 'ann@acme.test' OR app = 'ledger')`,
    );
    assert.deepEqual(seen, want!.ids, 'every grant she may see, once, in order');
    // Her own three and the ledger's; her service account's are ledger grants too.
    assert.equal(seen.length, 3 + OTHERS / 100);
    for (const plan of p.plans) {
      assert.match(plan, /grants_identity_page/, plan);
      assert.match(plan, /grants_owner_page/, plan);
      assert.match(plan, /grants_app_page/, plan);
      // Never the old plan: the whole creation order walked, everyone else's grants filtered out.
      assert.doesNotMatch(plan, /Seq Scan on grants|using grants_page on grants/, plan);
    }

    const q = planning(sql);
    const filtered = await listGrants(q.sql, { entitlement: 'crm:e3' }, { limit: 25 });
    assert.equal(filtered.grants.length, 25);
    assert.match(q.plans[0]!, /grants_entitlement_page/, q.plans[0]);
    assert.doesNotMatch(q.plans[0]!, /Seq Scan on grants|Sort/, q.plans[0]);

    const r = planning(sql);
    const ids = await listIdentities(
      r.sql,
      { limit: 100 },
      {},
      {
        id: 'ann@acme.test',
        governance: false,
      },
    );
    assert.deepEqual(
      ids.identities.map((i) => i.id),
      ['ann@acme.test', 'rep1@acme.test', 'rep2@acme.test', 'svc:ann'],
    );
    assert.doesNotMatch(r.plans[0]!, /Seq Scan on identities/, r.plans[0]);
  } finally {
    await store.close();
  }
});
