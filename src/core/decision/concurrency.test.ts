import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CatalogCache } from '../catalog/catalog.js';
import { type RequestInput, submitRequest } from '../requests/submit.js';
import { submissions } from '../requests/submit-group.js';
import type { Sql } from '../sql.js';
import { pgSql } from '../../store/pg-sql.js';
import { seedDemo } from '../../testing/demo-store.js';
import { testStore, type TestStore } from '../../store/test-store.js';

const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const NODES = 4;
const AT = new Date('2026-03-02T09:00:00.000Z');
const WHY = 'needed for the quarterly close';
/** Eight of the demo's people, none of whom holds anything in ERP or GitHub write. */
const PEOPLE = [
  'alice@acme.test',
  'bob@acme.test',
  'dan@acme.test',
  'heidi@acme.test',
  'frank@acme.test',
  'grace@acme.test',
  'dave@acme.test',
  'sam@acme.test',
];

async function unreachable(url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** One node: its own connections and its own catalog cache, as a separate process would have. */
interface Node {
  sql: Sql;
  catalog: CatalogCache;
}

/**
 * The demo organisation applied and its people synced, with github:write made low-risk so that a
 * short request for it is approved at once and takes a licence seat (2 in the demo).
 */
async function seed(sql: Sql): Promise<void> {
  await seedDemo(sql, AT, {
    edit: (config) => ({
      ...config,
      entitlements: config.entitlements.map((e) =>
        e.id === 'github:write' ? { ...e, risk: 'low' as const } : e,
      ),
    }),
  });
}

/**
 * Runs `fn` with a seeded store and NODES nodes on it. `server`: a fresh database on the
 * PostgreSQL server, each node its own pool (real concurrent transactions); otherwise the store
 * the suite runs on, every node sharing its one connection (PGlite: interleaved promises).
 */
async function withNodes(
  t: TestContext,
  server: boolean,
  fn: (nodes: Node[], store: TestStore) => Promise<void>,
): Promise<void> {
  let store: TestStore;
  if (server) {
    const down = await unreachable(SERVER_URL);
    if (down) {
      t.skip(`no PostgreSQL server at ${SERVER_URL} (${down})`);
      return;
    }
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = SERVER_URL;
    try {
      store = await testStore();
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  } else {
    store = await testStore();
  }
  const pools: pg.Pool[] = [];
  try {
    await seed(store.sql);
    const nodes: Node[] = [];
    for (let i = 0; i < NODES; i++) {
      let sql = store.sql;
      if (store.kind === 'server') {
        const pool = new pg.Pool({ connectionString: store.location, max: 4 });
        pool.on('error', () => undefined);
        pools.push(pool);
        // Connected before the race, so the requests leave at the same instant.
        const clients = await Promise.all([1, 2, 3, 4].map(() => pool.connect()));
        for (const c of clients) c.release();
        sql = pgSql(pool);
      }
      const catalog = new CatalogCache();
      await catalog.get(sql);
      nodes.push({ sql, catalog });
    }
    await fn(nodes, store);
  } finally {
    await Promise.allSettled(pools.map((p) => p.end()));
    await store.close();
  }
}

/**
 * How a node submits: each request in a transaction of its own, or through the node's
 * submissions, which decide those arriving together in one (ADR 0051).
 */
type Submit = 'alone' | 'together';
let submit: Submit = 'alone';

/** Sends every request at once, request i from node i mod NODES; none may fail. */
async function race(nodes: Node[], inputs: Omit<RequestInput, 'via'>[]): Promise<void> {
  const results = await Promise.allSettled(
    inputs.map(async (input, i) => {
      const node = nodes[i % nodes.length]!;
      const catalog = await node.catalog.get(node.sql);
      const request = { ...input, via: 'api' as const };
      return submit === 'alone'
        ? submitRequest(node.sql, catalog, AT, request)
        : submissions(node.sql).submit(catalog, AT, request);
    }),
  );
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  assert.deepEqual(failed, [], 'every request is decided, none fails');
}

const ask = (who: string, entitlement: string, duration?: number) => ({
  requester: who,
  beneficiary: who,
  entitlement,
  justification: WHY,
  ...(duration ? { duration } : {}),
});

async function sodCase(nodes: Node[], store: TestStore): Promise<void> {
  await race(
    nodes,
    PEOPLE.flatMap((p) => [ask(p, 'erp:vendor-create'), ask(p, 'erp:payment-approve')]),
  );
  const live = await store.sql.query<{ beneficiary: string; n: number }>(
    `SELECT beneficiary, count(*)::int AS n FROM requests
      WHERE entitlement IN ('erp:vendor-create', 'erp:payment-approve') AND status = 'pending_approval'
      GROUP BY beneficiary ORDER BY beneficiary`,
  );
  assert.deepEqual(
    live,
    [...PEOPLE].sort().map((beneficiary) => ({ beneficiary, n: 1 })),
    'each person has one of the two live, the other rejected as sod_conflict',
  );
  const rejected = await store.sql.query<{ code: string; n: number }>(
    `SELECT decision->'reasons'->0->>'code' AS code, count(*)::int AS n FROM requests
      WHERE status = 'rejected' GROUP BY 1`,
  );
  assert.deepEqual(rejected, [{ code: 'sod_conflict', n: PEOPLE.length }]);
}

async function duplicateCase(nodes: Node[], store: TestStore): Promise<void> {
  const copies = 6;
  await race(
    nodes,
    PEOPLE.slice(0, 4).flatMap((p) =>
      Array.from({ length: copies }, () => ask(p, 'analytics:writer')),
    ),
  );
  const live = await store.sql.query<{ beneficiary: string; n: number }>(
    `SELECT beneficiary, count(*)::int AS n FROM requests
      WHERE entitlement = 'analytics:writer' AND status = 'pending_approval' GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(
    live,
    PEOPLE.slice(0, 4)
      .sort()
      .map((beneficiary) => ({ beneficiary, n: 1 })),
    'one live request per person',
  );
  const rejected = await store.sql.query<{ code: string; n: number }>(
    `SELECT decision->'reasons'->0->>'code' AS code, count(*)::int AS n FROM requests
      WHERE status = 'rejected' GROUP BY 1`,
  );
  assert.deepEqual(rejected, [{ code: 'duplicate', n: 4 * (copies - 1) }]);
}

async function seatCase(nodes: Node[], store: TestStore): Promise<void> {
  await race(
    nodes,
    PEOPLE.map((p) => ask(p, 'github:write', 8 * 3600)),
  );
  const [live] = await store.sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM grants WHERE entitlement = 'github:write' AND state IN ('provisioning', 'active', 'revoking')`,
  );
  assert.equal(live?.n, 2, 'the two seats of the pool are taken, never more');
  const outcomes = await store.sql.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM requests WHERE entitlement = 'github:write' GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(outcomes, [
    { status: 'approved', n: 2 },
    { status: 'rejected', n: PEOPLE.length - 2 },
  ]);
}

for (const server of [true, false]) {
  for (const how of ['alone', 'together'] as const) {
    const where =
      (server
        ? 'from several connections at once on the PostgreSQL server'
        : 'interleaved on the store the suite runs on') +
      (how === 'alone'
        ? ', each submitted alone'
        : ', submitted together where they arrive together');
    const run = (t: TestContext, fn: (nodes: Node[], store: TestStore) => Promise<void>) => {
      submit = how;
      return withNodes(t, server, fn);
    };
    test(`eight people asking for both sides of a block SoD rule at once keep at most one of each pair live, ${where}`, (t) =>
      run(t, sodCase));
    test(`the same request sent many times at once leaves one live request, ${where}`, (t) =>
      run(t, duplicateCase));
    test(`requests racing for licence seats never take more than the pool holds, ${where}`, (t) =>
      run(t, seatCase));
  }
}
