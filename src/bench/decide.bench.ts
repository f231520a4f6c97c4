/**
 * Decision latency with a large grant table, against a baseline measured in the same run.
 *
 *   npm run bench                      (server at DATABASE_URL, else 127.0.0.1:5432)
 *   BENCH_GRANTS=100000 npm run bench  (a smaller table)
 *
 * Seeds the Acme demo configuration plus synthetic people (in department/title peer groups) and
 * live grants, then times `explain` (the whole decision procedure, steps 1–6, reading the store)
 * and `request` (decision plus the writes: request, audit events, grant, apply job) for random
 * people and entitlements. Baselines: the same decision on an empty grant table, and one Cedar
 * evaluation alone (the floor any decision pays).
 */
import '../v8-flags.js';
import { performance } from 'node:perf_hooks';
import { gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { systemClock } from '../core/clock.js';
import { entitlementOf } from '../core/catalog/catalog.js';
import type { Sql } from '../core/sql.js';
import { DEMO_CONFIG } from '../demo/seed.js';
import { testStore } from '../store/test-store.js';

const GRANTS = Number(process.env.BENCH_GRANTS ?? 1_000_000);
const PEOPLE = Math.max(1000, Math.round(GRANTS / 10));
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000);
const ENTS = [
  'github:read',
  'wiki:edit',
  'wiki:read',
  'analytics:reader',
  'analytics:writer',
  'erp:vendor-create',
  'erp:payment-approve',
  'erp:payment-release',
  'prod:deploy',
  'prod:admin',
  'github:admin',
];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function summary(name: string, xs: number[]): string {
  const f = (v: number) => `${v.toFixed(3)} ms`;
  return `${name.padEnd(44)} n=${xs.length}  p50 ${f(pct(xs, 50))}  p95 ${f(pct(xs, 95))}  p99 ${f(pct(xs, 99))}  max ${f(Math.max(...xs))}`;
}

async function seedPeople(sql: Sql, people: number): Promise<void> {
  await sql.query(
    `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
     SELECT 'p' || g || '@bench.test', 'human', 'active', 'Person ' || g, 'dept' || (g % 50), 'title' || ((g / 50) % 20),
            'p1@bench.test', '', '{"employment_type": "employee"}', 'bench', now(), now()
       FROM generate_series(1, $1::int) g`,
    [people],
  );
}

async function seedGrants(sql: Sql, people: number, grants: number): Promise<void> {
  const t = performance.now();
  // Each person holds up to ten distinct entitlements, so (identity, entitlement) stays unique.
  await sql.query(
    `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at, granted_at, expires_at, verified_at)
     SELECT 'grt_b' || g, 'p' || (1 + (g - 1) % $2::int) || '@bench.test', e.id, e.app, 'p' || (1 + (g - 1) % $2::int) || '@bench.test',
            'request', 'active', 86400 * 30, now(), now(), now() + interval '30 days', now()
       FROM generate_series(1, $1::int) g
       JOIN LATERAL (SELECT id, app FROM entitlements WHERE id = ($3::text[])[1 + ((g - 1) / $2::int) % 10]) e ON true`,
    [grants, people, ENTS],
  );
  await sql.query('ANALYZE');
  console.log(
    `seeded ${grants} live grants over ${people} people in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}

async function main() {
  process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const store = await testStore();
  try {
    const { config } = await loadConfigDir(DEMO_CONFIG);
    const catalogCache = new CatalogCache();
    const connectors = connectorSource([], { env: {}, dataDir: '/nonexistent' });
    const app = gatehouse({
      sql: store.sql,
      clock: systemClock,
      catalog: catalogCache,
      connectors,
      workerId: 'bench',
    });
    await app.apply(config, 'bench', false);
    await seedPeople(store.sql, PEOPLE);

    const catalog = await catalogCache.get(store.sql);
    const who = () => `p${1 + Math.floor(Math.random() * PEOPLE)}@bench.test`;
    const ent = () => ENTS[Math.floor(Math.random() * ENTS.length)]!;
    const explainOnce = async () => {
      const t = performance.now();
      await app.explain({
        requester: 'p1@bench.test',
        beneficiary: who(),
        entitlement: ent(),
        justification: 'benchmark justification text',
        ticket: 'JIRA:B-1',
        via: 'cli',
      });
      return performance.now() - t;
    };
    const times = async (n: number, f: () => Promise<number>) => {
      for (let i = 0; i < Math.min(200, n); i++) await f(); // warm up: JIT, plan cache, Cedar
      const xs: number[] = [];
      for (let i = 0; i < n; i++) xs.push(await f());
      return xs;
    };

    const principal = {
      id: 'p1@bench.test',
      kind: 'human' as const,
      status: 'active' as const,
      displayName: '',
      department: 'dept1',
      title: 'title1',
      manager: '',
      owner: '',
      attributes: {},
    };
    const cedar = await times(SAMPLES, async () => {
      const t = performance.now();
      catalog.policy.authorize('request', principal, entitlementOf(catalog, 'github:read'), {
        duration_hours: 24,
        extension: false,
        lifetime_hours: 24,
        emergency: false,
        ticket: true,
        role_fit: 50,
        requester_is_beneficiary: false,
      });
      return performance.now() - t;
    });
    console.log(summary('baseline: one Cedar evaluation', cedar));
    const roundTrip = await times(SAMPLES, async () => {
      const t = performance.now();
      await store.sql.query('SELECT 1');
      return performance.now() - t;
    });
    console.log(summary('baseline: one round trip (SELECT 1)', roundTrip));
    const empty = await times(SAMPLES, explainOnce);
    console.log(summary('baseline: decide (explain), 0 grants', empty));

    await seedGrants(store.sql, PEOPLE, GRANTS);
    const full = await times(SAMPLES, explainOnce);
    console.log(summary(`decide (explain), ${GRANTS} grants`, full));
    const writes = await times(Math.min(SAMPLES, 1000), async () => {
      const t = performance.now();
      await app.request({
        requester: 'p1@bench.test',
        beneficiary: who(),
        entitlement: 'github:admin',
        justification: 'benchmark justification text',
        ticket: 'JIRA:B-1',
        duration: 3600,
        via: 'cli',
      });
      return performance.now() - t;
    });

    console.log(summary(`request (decide + writes), ${GRANTS} grants`, writes));
    const [groups] = await store.sql.query<{ n: number | string; largest: number | string }>(
      `SELECT count(*) AS n, max(c) AS largest
         FROM (SELECT count(*) AS c FROM identities WHERE source = 'bench' GROUP BY department, title) x`,
    );
    console.log(
      `store: ${store.kind} (PostgreSQL server), ${PEOPLE} people in ${groups?.n} peer groups (largest ${groups?.largest}), Acme configuration (${config.policies.length} policies, ${config.sod.length} SoD rules)`,
    );
    console.log(
      `target: decide p99 <= 2 ms -> ${pct(full, 99) <= 2 ? 'met' : 'NOT met'} (${pct(full, 99).toFixed(3)} ms)`,
    );
  } finally {
    await store.close();
  }
}

await main();
