import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../testing/harness.js';
import {
  FACTS_MANY_SQL,
  FACTS_SEATS_SQL,
  FACTS_SQL,
  ROLE_FIT_SQL,
  SEATS_SQL,
  loadFacts,
  seatsUsed,
} from './inputs.js';

const PEERS = 200;
const HOLDERS = 10_000;
const NHI = 3_000;

test('role fit and licence seats read counts by primary key, even when the grant and identity tables have grown far past the statistics the planner has', async () => {
  const h = await harness({ people: false });
  try {
    const { sql } = h.store;
    // Statistics are taken now, with few identities, no grants and no counts.
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       VALUES ('fit0@acme.test', 'human', 'active', 'Fit 0', 'FitDept', 'Fitter', '', '', '{}', 'test', now(), now())`,
    );
    await sql.query('ANALYZE');
    // Then the store fills: one peer group of PEERS people, many people outside it in groups of
    // their own (so the counts outgrow a page or two), and NHI
    // non-human identities of one kind and one owner, all in the owner's department with no title
    // (as HR feeds deliver them).
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       SELECT 'fit' || g || '@acme.test', 'human', 'active', 'Fit ' || g,
              CASE WHEN g <= $1::int THEN 'FitDept' ELSE 'Other' || (g % 20) END,
              CASE WHEN g <= $1::int THEN 'Fitter' ELSE 'Title' || g END,
              '', '', '{}', 'test', now(), now()
         FROM generate_series(1, $2::int) g`,
      [PEERS, PEERS + HOLDERS],
    );
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       SELECT 'svc:fit' || g, 'service_account', 'active', 'Svc ' || g, 'FitDept', '', '', 'fit1@acme.test', '{}', 'test', now(), now()
         FROM generate_series(1, $1::int) g`,
      [NHI],
    );
    // Everyone outside the group, every other peer and every third service account holds wiki:read.
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_fit' || g, 'fit' || g || '@acme.test', 'wiki:read', 'wiki', 'fit' || g || '@acme.test',
              'request', 'active', 3600, now(), now(), now() + interval '1 day', now()
         FROM generate_series(1, $1::int) g
        WHERE g > $2::int OR g % 2 = 0`,
      [PEERS + HOLDERS, PEERS],
    );
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_svc' || g, 'svc:fit' || g, 'wiki:read', 'wiki', 'fit1@acme.test',
              'request', 'active', 3600, now(), now(), now() + interval '1 day', now()
         FROM generate_series(1, $1::int) g WHERE g % 3 = 0`,
      [NHI],
    );

    // And every person outside the group holds one of 2,000 other entitlements, so the counts per
    // entitlement outgrow their statistics too.
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_bulk' || g, 'fit' || g || '@acme.test', 'bulk:e' || (g % 2000), 'bulk', 'fit' || g || '@acme.test',
              'request', 'active', 3600, now(), now(), now() + interval '1 day', now()
         FROM generate_series($1::int + 1, $2::int) g`,
      [PEERS, PEERS + HOLDERS],
    );

    const fit = async (beneficiary: string) =>
      (
        await loadFacts(sql, {
          beneficiary,
          requester: beneficiary,
          entitlement: 'wiki:read',
          lock: false,
        })
      )?.facts.fit;
    const person = await fit('fit1@acme.test');
    assert.deepEqual(
      { peers: person?.peers, holding: person?.holding },
      { peers: PEERS, holding: PEERS / 2 },
      'every other peer (and fit0, analyzed alone, not) holds it; the beneficiary is not its own peer, its service accounts are not its peers',
    );
    assert.equal(person?.score, Math.round((100 * (PEERS / 2)) / PEERS));
    assert.equal(person?.explanation, `held by ${PEERS / 2} of ${PEERS} peers (FitDept / Fitter)`);
    const holdingPeer = await fit('fit2@acme.test');
    assert.deepEqual(
      { peers: holdingPeer?.peers, holding: holdingPeer?.holding },
      { peers: PEERS, holding: PEERS / 2 - 1 },
      'a beneficiary that holds the entitlement is not counted among its holding peers',
    );
    const account = await fit('svc:fit1');
    assert.deepEqual(
      { peers: account?.peers, holding: account?.holding, explanation: account?.explanation },
      {
        peers: NHI - 1,
        holding: NHI / 3,
        explanation: `held by ${NHI / 3} of ${NHI - 1} peers (service_account owned by fit1@acme.test)`,
      },
      "a service account's peers are the owner's other service accounts, not the department",
    );

    // Licence seats: a pool's use is the live grants of its entitlements, from the same counts.
    const [pool] = await sql.query<{ app: string; tier: string }>(
      `SELECT app, licence_tier AS tier FROM entitlements WHERE licence_tier IS NOT NULL ORDER BY id LIMIT 1`,
    );
    assert.ok(pool, 'the demo has a licensed entitlement');
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_seat' || g, 'fit' || g || '@acme.test', e.id, e.app, 'fit' || g || '@acme.test',
              'request', CASE WHEN g % 4 = 0 THEN 'revoked' ELSE 'active' END, 3600, now(), now(), now() + interval '1 day', now()
         FROM generate_series(1, 40) g, entitlements e WHERE e.app = $1 AND e.licence_tier = $2`,
      [pool.app, pool.tier],
    );
    const [counted] = await sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM grants g JOIN entitlements e ON e.id = g.entitlement
        WHERE g.app = $1 AND e.licence_tier = $2 AND grant_is_live(g.state)`,
      [pool.app, pool.tier],
    );
    assert.equal(await seatsUsed(sql, pool.app, pool.tier), Number(counted?.n));

    // The plan, on the statistics taken before any of this: the beneficiary by primary key, then
    // one primary-key read of its group's members and one range of its group's holders of the
    // entitlement; never a read of the peers, nor of every holder of the entitlement. The
    // statements are prepared on the server (core/sql.ts `prepared`), so their generic plans,
    // made without the parameters' values, must hold too.
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      for (const text of [FACTS_SQL, FACTS_SEATS_SQL, FACTS_MANY_SQL, ROLE_FIT_SQL]) {
        const facts = [
          'fit1@acme.test',
          'fit1@acme.test',
          'wiki:read',
          ['fit2@acme.test', 'fit3@acme.test'],
        ];
        // A submission group's (ADR 0051): two beneficiaries, each read as FACTS_SQL reads one.
        const many = [
          JSON.stringify(
            ['fit1@acme.test', 'svc:fit1'].map((b, n) => ({
              n,
              beneficiary: b,
              requester: b,
              entitlement: 'wiki:read',
              named: ['fit2@acme.test', 'fit3@acme.test'],
            })),
          ),
        ];
        const params =
          text === FACTS_SQL
            ? facts
            : text === FACTS_SEATS_SQL
              ? [...facts, pool.app, pool.tier]
              : text === FACTS_MANY_SQL
                ? many
                : ['fit1@acme.test', 'wiki:read'];
        const plan = await sql.transaction(async (tx) => {
          await tx.query(`SET LOCAL plan_cache_mode = ${mode}`);
          const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        });
        assert.match(plan, /peer_members_pkey on peer_members m\b/, plan);
        assert.match(plan, /peer_holders_pkey on peer_holders p\b/, plan);
        // The approvers by primary key, the dry run's seats by the counts' primary key.
        if (text !== ROLE_FIT_SQL) assert.match(plan, /identities_pkey on identities a\b/, plan);
        if (text === FACTS_SEATS_SQL)
          assert.match(
            plan,
            /Index Scan on entitlement_holders_pkey|entitlement_holders_pkey on entitlement_holders s\b/,
            plan,
          );
        assert.doesNotMatch(
          plan,
          /Hash|Seq Scan on (grants|identities|peer_\w+)|grants_entitlement|grants_reconcile|identities_peers/,
          plan,
        );
      }
    }
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      const plan = await sql.transaction(async (tx) => {
        await tx.query(`SET LOCAL plan_cache_mode = ${mode}`);
        const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${SEATS_SQL}`, [
          pool.app,
          pool.tier,
        ]);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
      assert.match(
        plan,
        /Index Scan on entitlement_holders_pkey|entitlement_holders_pkey on entitlement_holders h\b/,
        plan,
      );
      assert.doesNotMatch(plan, /grants|Seq Scan on entitlement_holders/, plan);
    }
  } finally {
    await h.close();
  }
});
