import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sql } from '../sql.js';
import { testStore } from '../../store/test-store.js';
import { planning } from '../../testing/planning.js';
import { type RequestFilter, VIEWS_SQL, requestIdsQuery } from './view.js';

/** A first page of the list's ids under `f`, and the plan the store read them by. */
async function firstPage(sql: Sql, f: RequestFilter): Promise<{ ids: string[]; plan: string }> {
  const q = requestIdsQuery(f, { limit: 25 });
  const traced = planning(sql);
  const rows = await traced.sql.query<{ id: string }>(q.text, q.params);
  return { ids: rows.map((r) => r.id), plan: traced.plans[0]! };
}

test("a request's view reads its grant by index whatever the statistics, never walking the grants in creation order", async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // Statistics of an empty store, then a bulk load the planner has not seen (no ANALYZE, as
    // after an import on a server without autovacuum, or on PGlite).
    await sql.query('ANALYZE grants');
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at, request_id)
       SELECT 'grt_' || g, 'p' || g || '@acme.test', 'wiki:e' || (g % 50), 'wiki', '', 'request', 'active', 3600,
              now() - (g || ' seconds')::interval, now(), now() + interval '1 day', now(), 'req_' || g
         FROM generate_series(1, 20000) g`,
    );
    const explain = async (mode: 'force_custom_plan' | 'force_generic_plan') =>
      sql.transaction(async (tx) => {
        await tx.query(`SET LOCAL plan_cache_mode = ${mode}`);
        await tx.query(`PREPARE gh_view_plan(text[]) AS ${VIEWS_SQL}`);
        try {
          const rows = await tx.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN EXECUTE gh_view_plan(ARRAY['req_17'])`,
          );
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        } finally {
          await tx.query('DEALLOCATE gh_view_plan');
        }
      });
    for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
      const plan = await explain(mode);
      assert.doesNotMatch(plan, /Seq Scan on grants/, `${mode}:\n${plan}`);
      assert.doesNotMatch(plan, /grants_page|grants_state_page/, `${mode}:\n${plan}`);
      assert.match(plan, /grants_request/, `${mode}:\n${plan}`);
    }
  } finally {
    await store.close();
  }
});

test("a person's request list probes their own requests by index whatever the statistics, never walking every request", async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // Statistics of an empty store, then requests the planner has not seen, each with a stage.
    await sql.query('ANALYZE requests, approval_stages');
    await sql.query(
      `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, status, decision, created_at)
       SELECT 'req_' || g, 'p' || (g % 5000) || '@acme.test', 'p' || ((g + 7) % 5000) || '@acme.test',
              'wiki:e' || (g % 50), 'why', 'approved', '{}', now() - (g || ' seconds')::interval
         FROM generate_series(1, 20000) g`,
    );
    await sql.query(
      `INSERT INTO approval_stages (request_id, idx, rule, approvers, min_approvals, state)
       SELECT 'req_' || g, 0, 'manager', ARRAY['p' || ((g + 13) % 5000) || '@acme.test'], 1, 'approved'
         FROM generate_series(1, 20000) g`,
    );
    const reader = 'p17@acme.test';
    for (const f of [{ visibleTo: reader }, { visibleTo: reader, status: 'approved' }]) {
      const { ids, plan } = await firstPage(sql, f);
      const ctx = `${JSON.stringify(f)}:\n${plan}`;
      assert.doesNotMatch(plan, /Seq Scan on requests/, ctx);
      assert.doesNotMatch(plan, /requests_page|requests_status_page/, ctx);
      assert.match(plan, /Function Scan on requests_visible_to/, ctx);
      assert.match(plan, /requests_pkey/, ctx);
      // p17 asked for req_17, req_5017 …; is the beneficiary of req_10, req_5010 …; approves req_4 …
      assert.deepEqual(ids.length, 12, ctx);
    }
    // The function's own plan, under its own settings: three index probes.
    const [body] = await sql.query<{ prosrc: string }>(
      `SELECT prosrc FROM pg_proc WHERE proname = 'requests_visible_to'`,
    );
    const inner = await sql.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      await tx.query('SET LOCAL max_parallel_workers_per_gather = 0');
      const text = body!.prosrc.replace(/\breader\b/g, `'${reader}'::text`);
      return (await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    });
    assert.doesNotMatch(inner, /Seq Scan|Gather/, inner);
    for (const index of [
      'requests_requester_page',
      'requests_beneficiary_page',
      'approval_stages_approvers',
    ])
      assert.match(inner, new RegExp(index), inner);
  } finally {
    await store.close();
  }
});

test("a list of one beneficiary's requests in one status reads that beneficiary's requests, not every request in the status", async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    // Statistics of an empty store, then 100,000 requests the planner has not seen, a quarter
    // of them approved, each beneficiary with twenty.
    await sql.query('ANALYZE requests');
    await sql.query(
      `INSERT INTO requests (id, requester, beneficiary, entitlement, justification, status, decision, created_at)
       SELECT 'req_' || g, 'p' || (g % 5000) || '@acme.test', 'p' || (g % 5000) || '@acme.test',
              'wiki:e' || (g % 50), 'why', (ARRAY['approved', 'rejected', 'cancelled', 'lapsed'])[(g / 5000) % 4 + 1],
              '{}', now() - (g || ' seconds')::interval
         FROM generate_series(1, 100000) g`,
    );
    for (const f of [
      { beneficiary: 'p17@acme.test', status: 'approved' },
      { beneficiary: 'p17@acme.test' },
    ]) {
      const { ids, plan } = await firstPage(sql, f);
      const ctx = `${JSON.stringify(f)}:\n${plan}`;
      assert.doesNotMatch(plan, /Seq Scan on requests|BitmapAnd|requests_status_page/, ctx);
      assert.match(plan, /requests_beneficiary_page/, ctx);
      assert.equal(ids.length, f.status ? 5 : 20, ctx);
    }
  } finally {
    await store.close();
  }
});
