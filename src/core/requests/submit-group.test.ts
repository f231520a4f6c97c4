import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifyAudit } from '../audit/verify.js';
import { CatalogCache } from '../catalog/catalog.js';
import { loadFacts, loadFactsMany } from '../decision/inputs.js';
import type { Sql } from '../sql.js';
import { type RequestInput, submitRequest } from './submit.js';
import { GROUPS, submissions } from './submit-group.js';
import { type RequestView, requestView } from './view.js';
import { type Harness, harness } from '../../testing/harness.js';

const WHY = 'needed for the quarterly close';
const AT = new Date('2026-03-02T09:00:00.000Z');
/** Demo people the refusal tests ask for, none of them among the refused. */
const people = [
  'frank@acme.test',
  'grace@acme.test',
  'sam@acme.test',
  'heidi@acme.test',
  'erin@acme.test',
  'alice@acme.test',
  'sue@acme.test',
  'dan@acme.test',
];

const ask = (
  who: string,
  entitlement: string,
  extra: Partial<RequestInput> = {},
): RequestInput => ({
  requester: who,
  beneficiary: who,
  entitlement,
  justification: WHY,
  via: 'api',
  ...extra,
});

/** The store's handle, counting the transactions begun through it. */
function counting(sql: Sql): { sql: Sql; transactions: () => number } {
  let n = 0;
  return {
    sql: {
      query: (text, params) => sql.query(text, params),
      transaction: (fn, then) => {
        n++;
        return sql.transaction(fn, then);
      },
    },
    transactions: () => n,
  };
}

/** A lone submission's outcome, as the answer a caller sees: its view's status or its error. */
async function outcome(p: Promise<RequestView>): Promise<string> {
  try {
    return (await p).status;
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

/**
 * Submissions that arrive together through one handle are decided and written together (ADR
 * 0051); each caller's answer must be what it would have been alone.
 */
describe('submissions arriving together', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('are written in fewer transactions, each answering the view read back after commit', async () => {
    const { sql, transactions } = counting(h.store.sql);
    const catalog = await new CatalogCache().get(sql);
    const inputs = [
      ask('bob@acme.test', 'wiki:read'),
      ask('erin@acme.test', 'wiki:edit', { duration: 3600 }),
      ask('alice@acme.test', 'analytics:writer', { duration: 7 * 86400 }),
      ask('sue@acme.test', 'erp:payment-release', { ticket: 'JIRA:ITSM-42' }),
      ask('dave@acme.test', 'analytics:reader', { justification: '' }),
      ask('frank@acme.test', 'wiki:read'),
      ask('grace@acme.test', 'wiki:read'),
      ask('heidi@acme.test', 'analytics:writer', { duration: 7 * 86400 }),
      ask('dan@acme.test', 'wiki:read'),
      ask('sam@acme.test', 'wiki:read'),
    ];
    const views = await Promise.all(inputs.map((i) => submissions(sql).submit(catalog, AT, i)));
    assert.ok(
      transactions() < inputs.length,
      `${inputs.length} submissions in ${transactions()} transactions`,
    );
    for (const v of views)
      assert.deepStrictEqual(v, await requestView(h.store.sql, v.id), `${v.beneficiary}`);
    assert.deepEqual(
      [...new Set(views.map((v) => v.status))].sort(),
      ['approved', 'pending_approval', 'rejected'],
      'the members cover every outcome',
    );
    assert.ok(views.some((v) => v.grant?.state === 'provisioning'));
    assert.ok(views.some((v) => v.approval.stages.length > 1));
    const jobs = await h.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs WHERE kind = 'grant.apply' AND subject = ANY($1::text[])`,
      [views.flatMap((v) => (v.grant ? [v.grant.id] : []))],
    );
    assert.equal(
      jobs[0]?.n,
      views.filter((v) => v.grant).length,
      'each new grant has its apply job',
    );
    const verified = await verifyAudit(h.store.sql);
    assert.equal(verified.ok, true);
    for (const v of views) {
      const events = await h.store.sql.query<{ action: string; seq: number }>(
        `SELECT action, seq FROM audit_events WHERE $1 = ANY(refs) ORDER BY seq`,
        [v.id],
      );
      assert.deepEqual(
        events.map((e) => e.action),
        ['request.submitted', 'request.decided', ...(v.grant ? ['grant.created'] : [])],
        `${v.id}'s events`,
      );
      assert.deepEqual(
        events.map((e) => Number(e.seq) - Number(events[0]!.seq)),
        events.map((_, i) => i),
        `${v.id}'s events follow one another in the chain`,
      );
    }
  });

  test('read the same facts for each member as a lone submission reads for itself', async () => {
    const catalog = await new CatalogCache().get(h.store.sql);
    const qs = [
      {
        beneficiary: 'alice@acme.test',
        requester: 'alice@acme.test',
        entitlement: 'erp:payment-approve',
      },
      {
        beneficiary: 'bob@acme.test',
        requester: 'carol@acme.test',
        entitlement: 'analytics:writer',
      },
      { beneficiary: 'nobody@acme.test', requester: 'bob@acme.test', entitlement: 'wiki:read' },
      { beneficiary: 'sue@acme.test', requester: 'ghost@acme.test', entitlement: 'github:write' },
      {
        beneficiary: 'dan@acme.test',
        requester: 'dan@acme.test',
        entitlement: 'wiki:nothing-here',
      },
    ];
    const one = await Promise.all(
      qs.map((q) => loadFacts(h.store.sql, { ...q, lock: false, catalog, dryRun: false })),
    );
    assert.deepEqual(await loadFactsMany(h.store.sql, catalog, qs), one);
    assert.equal(one[2], undefined, 'nobody is nobody');
    assert.ok(one[0]?.facts.held.grants.size, 'the cases include held grants');
  });

  test('answer a member refused before any write with its lone error, and record the others', async () => {
    const { sql, transactions } = counting(h.store.sql);
    const catalog = await new CatalogCache().get(sql);
    const bad = [
      ask('carol@acme.test', 'wiki:nothing-here'),
      ask('nobody@acme.test', 'wiki:read'),
      { ...ask('dave@acme.test', 'wiki:edit'), requester: 'ghost@acme.test' },
      ask('bob@acme.test', 'analytics:reader', { ticket: 'not a ticket' }),
    ];
    const alone = await Promise.all(
      bad.map((i) => outcome(submitRequest(h.store.sql, catalog, AT, i))),
    );
    assert.ok(
      alone.every((o) => o.includes('Error')),
      `each is refused alone: ${alone.join(' | ')}`,
    );
    const good = people.slice(0, GROUPS + 1).map((p) => ask(p, 'wiki:edit', { duration: 3600 }));
    const before = transactions();
    // Lone submissions hold every slot, so the rest wait and go together.
    const answers = await Promise.all(
      [...good.slice(0, GROUPS), ...bad, good[GROUPS]!].map((i) =>
        outcome(submissions(sql).submit(catalog, AT, i)),
      ),
    );
    assert.deepEqual(answers.slice(GROUPS, GROUPS + bad.length), alone, 'the same refusals');
    assert.ok(
      [...answers.slice(0, GROUPS), answers.at(-1) ?? ''].every((a) => !a.includes('Error')),
      `the others are recorded: ${answers.join(' | ')}`,
    );
    // The lone ones, the group, and the unknown identity, submitted alone.
    assert.equal(transactions() - before, GROUPS + 2, 'the rest went together');
  });

  test('submit a member alone when the store refuses a value it carries, and record the others', async () => {
    const { sql, transactions } = counting(h.store.sql);
    const catalog = await new CatalogCache().get(sql);
    const nul = ask('carol@acme.test', 'analytics:writer', {
      duration: 86400,
      justification: 'needed for \u0000 the close',
    });
    const alone = await outcome(submitRequest(h.store.sql, catalog, AT, nul));
    const others = people
      .slice(0, GROUPS + 2)
      .map((p) => ask(p, 'analytics:reader', { duration: 86400 }));
    const before = transactions();
    const answers = await Promise.all(
      [...others.slice(0, GROUPS), nul, ...others.slice(GROUPS)].map((i) =>
        outcome(submissions(sql).submit(catalog, AT, i)),
      ),
    );
    // The lone ones, the group rolled back, then its three members alone.
    assert.equal(transactions() - before, GROUPS + 4);
    assert.equal(answers[GROUPS], alone, 'its answer is its lone answer');
    assert.ok(
      answers.every((a, i) => i === GROUPS || !a.includes('Error')),
      `the others are recorded: ${answers.join(' | ')}`,
    );
  });

  test('start the next transaction while the one before waits on its COMMIT', async (t) => {
    // PGlite has one connection: its transactions take turns whatever the queue does.
    if (h.store.kind !== 'server') return t.skip('needs a second connection');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let first = true;
    // The first transaction stops after its write, its COMMIT not yet sent.
    const sql: Sql = {
      query: (text, params) => h.store.sql.query(text, params),
      transaction: (fn, then) =>
        h.store.sql.transaction(async (tx) => {
          const value = await fn(tx);
          if (first) {
            first = false;
            await held;
          }
          return value;
        }, then),
    };
    const catalog = await new CatalogCache().get(sql);
    const order: string[] = [];
    const [a, ...rest] = ['frank', 'grace', 'sam', 'erin'].map((p) => {
      const input = ask(`${p}@acme.test`, 'analytics:writer', { duration: 7 * 86400 });
      return outcome(submissions(sql).submit(catalog, AT, input)).then((o) => {
        order.push(p);
        return o;
      });
    });
    // Were the queue to wait for the COMMIT, the first would be let go first.
    const timeout = setTimeout(release, 10_000);
    const others = await Promise.all(rest);
    release();
    clearTimeout(timeout);
    const answers = [await a!, ...others];
    assert.ok(
      answers.every((o) => !o.includes('Error')),
      answers.join(' | '),
    );
    assert.deepEqual(order.slice(-1), ['frank'], `answered in the order ${order.join(', ')}`);
  });
});
