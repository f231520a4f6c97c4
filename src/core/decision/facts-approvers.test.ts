import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Catalog, appOf } from '../catalog/catalog.js';
import { resolveChain } from '../approvals/resolve.js';
import { accessDecideInput } from '../requests/submit.js';
import type { Sql } from '../sql.js';
import { decide } from './decide.js';
import { loadFacts } from './inputs.js';
import { seedDemo } from '../../testing/demo-store.js';
import { testStore } from '../../store/test-store.js';

const AT = new Date('2026-03-02T09:00:00.000Z');
const WHY = 'needed for the quarterly close';

const seeded = (sql: Sql): Promise<Catalog> => seedDemo(sql, AT, { nonHuman: true });

/** The statements `sql` is asked to run, in order. */
function counting(sql: Sql): { sql: Sql; texts: string[] } {
  const texts: string[] = [];
  return {
    texts,
    sql: {
      query: (text, params) => {
        texts.push(text);
        return sql.query(text, params);
      },
      transaction: (fn) => sql.transaction(fn),
    },
  };
}

test('explain decides in one round trip: approvers, an owner’s manager and licence seats come with the facts', async () => {
  const store = await testStore();
  try {
    const catalog = await seeded(store.sql);
    const asks = [
      // A person's request routed to the manager and the app owner, with a licence seat to count.
      { requester: 'bob@acme.test', beneficiary: 'bob@acme.test', entitlement: 'github:write' },
      // A service account: its owner's manager approves (two look-ups before).
      { requester: 'alice@acme.test', beneficiary: 'svc:ci-deployer', entitlement: 'github:write' },
      { requester: 'alice@acme.test', beneficiary: 'svc:ci-deployer', entitlement: 'prod:deploy' },
    ];
    for (const ask of asks) {
      const c = counting(store.sql);
      const di = await accessDecideInput(
        c.sql,
        catalog,
        { ...ask, justification: WHY, via: 'api' },
        false,
      );
      const plan = await decide(c.sql, catalog, AT, di);
      assert.equal(plan.status, 'pending_approval', JSON.stringify(plan.decision.reasons));
      assert.ok(
        plan.stages.every((s) => s.approvers.length > 0),
        JSON.stringify(plan.stages),
      );
      assert.equal(
        c.texts.length,
        1,
        `${ask.beneficiary} ${ask.entitlement}: ${c.texts.join('\n---\n')}`,
      );
    }
  } finally {
    await store.close();
  }
});

test('approvers read with the facts are those looked up one by one: inactive ones excluded, nobody approves for themselves, the fallback group stands in', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    const catalog = await seeded(sql);
    // An inactive manager, an inactive app owner and an inactive security member.
    const github = appOf(catalog, 'github');
    const [carol] = await sql.query<{ manager: string }>(
      `SELECT manager FROM identities WHERE id = 'alice@acme.test'`,
    );
    await sql.query(`UPDATE identities SET status = 'suspended' WHERE id = ANY($1::text[])`, [
      [carol!.manager, github.owner, 'sue@acme.test'],
    ]);
    // Both seats of github taken, so the seat count read with the facts decides too.
    await sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
       SELECT 'grt_seat_' || i, i, 'github:write', 'github', i, 'request', 'active', 3600, now(), now(), now() + interval '1 day', now()
         FROM unnest(ARRAY['heidi@acme.test', 'frank@acme.test']) i`,
    );
    const people = (await sql.query<{ id: string }>(`SELECT id FROM identities ORDER BY id`)).map(
      (r) => r.id,
    );
    const chains = [
      ['manager'],
      ['owner'],
      ['app_owner', 'group:security'],
      ['identity:sam@acme.test', 'identity:nobody@acme.test'],
      ['manager', 'owner', 'app_owner', 'group:risk', 'group:security'],
    ].map((rules) => rules.map((rule) => ({ rule, minApprovals: 1 })));
    let compared = 0;
    for (const beneficiary of people) {
      for (const ent of catalog.entitlements.values()) {
        const requester = beneficiary.startsWith('svc:') ? 'alice@acme.test' : beneficiary;
        const q = { beneficiary, requester, entitlement: ent.id, lock: false };
        const known = await loadFacts(sql, { ...q, catalog, dryRun: true });
        const plain = await loadFacts(sql, q);
        assert.ok(known && plain);
        assert.ok(known.facts.approvers && !plain.facts.approvers);
        const input = {
          requester,
          beneficiary: known.beneficiary,
          entitlement: ent,
          justification: WHY,
          duration: undefined,
          ticket: 'JIRA:ITSM-42',
          emergency: false,
          kind: 'access' as const,
        };
        assert.deepEqual(
          await decide(sql, catalog, AT, { ...input, facts: known.facts }),
          await decide(sql, catalog, AT, { ...input, facts: plain.facts }),
          `${beneficiary} ${ent.id}`,
        );
        const route = { requester, beneficiary: known.beneficiary, app: appOf(catalog, ent.app) };
        for (const chain of chains) {
          assert.deepEqual(
            await resolveChain(sql, catalog, chain, route, known.facts.approvers),
            await resolveChain(sql, catalog, chain, route),
            `${beneficiary} ${ent.id} ${chain.map((s) => s.rule).join(',')}`,
          );
          compared++;
        }
      }
    }
    assert.ok(compared > 100);
  } finally {
    await store.close();
  }
});
