import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { VIEWS_SQL } from './view.js';

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
