import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../testing/harness.js';
import { FACTS_SQL, loadFacts } from './inputs.js';

const PEERS = 200;
const HOLDERS = 10_000;

test('role fit counts the holders among the peers by probing each peer, even when the grant table has grown far past the statistics the planner has', async () => {
  const h = await harness({ people: false });
  try {
    const { sql } = h.store;
    // One peer group, and many people outside it; statistics are taken now, with few grants.
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       SELECT 'fit' || g || '@acme.test', 'human', 'active', 'Fit ' || g,
              CASE WHEN g <= $1::int THEN 'FitDept' ELSE 'Other' || (g % 20) END, 'Fitter',
              '', '', '{}', 'test', now(), now()
         FROM generate_series(1, $2::int) g`,
      [PEERS, PEERS + HOLDERS],
    );
    await sql.query('ANALYZE');
    // Then the store fills: everyone outside the group, and every other peer, holds wiki:read.
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_fit' || g, 'fit' || g || '@acme.test', 'wiki:read', 'wiki', 'fit' || g || '@acme.test',
              'request', 'active', 3600, now(), now(), now() + interval '1 day', now()
         FROM generate_series(1, $1::int) g
        WHERE g > $2::int OR g % 2 = 0`,
      [PEERS + HOLDERS, PEERS],
    );

    const loaded = await loadFacts(sql, {
      beneficiary: 'fit1@acme.test',
      requester: 'fit1@acme.test',
      entitlement: 'wiki:read',
      lock: false,
    });
    assert.deepEqual(
      { peers: loaded?.facts.fit.peers, holding: loaded?.facts.fit.holding },
      { peers: PEERS - 1, holding: PEERS / 2 },
      'every other peer holds it; the beneficiary is not its own peer',
    );
    assert.equal(loaded?.facts.fit.score, Math.round((100 * (PEERS / 2)) / (PEERS - 1)));

    // The plan, on the statistics taken before the grants came: one probe of the (identity,
    // entitlement) live-grant index per peer, never a read of every holder of the entitlement.
    // The statement is prepared on the server (core/sql.ts `prepared`), so its generic plan, made
    // without the parameters' values, must hold too.
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      const plan = await sql.transaction(async (tx) => {
        await tx.query(`SET LOCAL plan_cache_mode = ${mode}`);
        const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${FACTS_SQL}`, [
          'fit1@acme.test',
          'fit1@acme.test',
          'wiki:read',
        ]);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
      assert.match(plan, /grants_one_live on grants g\b/, plan);
      assert.match(plan, /Index Cond: \(\(identity = i\w*\.id\) AND \(entitlement = /, plan);
      assert.doesNotMatch(
        plan,
        /Hash|Seq Scan on grants|grants_entitlement|grants_reconcile/,
        plan,
      );
    }
  } finally {
    await h.close();
  }
});
