/**
 * Submit throughput as the store fills, beside a raw baseline from the same run.
 *
 *   node dist/bench/submit-probe.bench.js                   (embedded PGlite)
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/submit-probe.bench.js
 *   PROBE_REQUESTS=50000 PROBE_CALLERS=8 …                   (size and concurrency)
 *
 * Seeds the Acme demo configuration and one synthetic person per request (in department/title
 * peer groups of 50), takes statistics once, as after loading (autovacuum is off on the server,
 * PGlite never analyzes), then submits one auto-approved request per person through the core use
 * case (decision, request, decision record, grant, apply job, audit events in one transaction)
 * from PROBE_CALLERS concurrent callers. Reports the whole rate, the rate over the first and
 * last 10 % of requests, and the baseline: BEGIN; INSERT; COMMIT from as many callers.
 */
import '../v8-flags.js';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { systemClock } from '../core/clock.js';
import type { Sql } from '../core/sql.js';
import { submitRequest } from '../core/requests/submit.js';
import { verifyAudit } from '../core/audit/verify.js';
import { DEMO_CONFIG } from '../demo/seed.js';
import { pgSql } from '../store/pg-sql.js';
import { testStore } from '../store/test-store.js';

const REQUESTS = Number(process.env.PROBE_REQUESTS ?? 5000);
const CALLERS = Number(process.env.PROBE_CALLERS ?? 1);
const BASELINE = Number(process.env.PROBE_BASELINE ?? 3000);

/** Runs `n` numbered tasks from `callers` loops; returns each task's finishing time. */
async function drive(n: number, callers: number, task: (i: number) => Promise<unknown>) {
  const finished: number[] = new Array<number>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let i = next++; i < n; i = next++) {
        await task(i);
        finished[i] = performance.now();
      }
    }),
  );
  return finished;
}

const rate = (count: number, ms: number) => (1000 * count) / ms;

/** For PROBE_TRACE: which tenth of the run a statement belongs to. */
let phase = 'setup';

async function main() {
  const store = await testStore();
  // The test store's pool has four connections; the probe's callers each need their own.
  const pool =
    store.kind === 'server'
      ? new pg.Pool({ connectionString: store.location, max: CALLERS + 1 })
      : undefined;
  const raw: Sql = pool ? pgSql(pool) : store.sql;
  const stats = new Map<string, { n: number; ms: number }>();
  const traced = (q: Sql): Sql => ({
    async query<T>(text: string, params?: unknown[]) {
      const t = performance.now();
      try {
        return await q.query<T>(text, params);
      } finally {
        const k = `${phase} ${text.replace(/\s+/g, ' ').slice(0, 60)}`;
        const e = stats.get(k) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += performance.now() - t;
        stats.set(k, e);
      }
    },
    transaction: (fn) => q.transaction((tx) => fn(traced(tx))),
  });
  const sql: Sql = process.env.PROBE_TRACE ? traced(raw) : raw;
  try {
    const { config } = await loadConfigDir(DEMO_CONFIG);
    const catalogCache = new CatalogCache();
    const app = gatehouse({
      sql,
      clock: systemClock,
      catalog: catalogCache,
      connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
      workerId: 'probe',
    });
    await app.apply(config, 'probe', false);
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
       SELECT 'p' || g || '@probe.test', 'human', 'active', 'Person ' || g, 'dept' || (g % 50), 'title' || ((g / 50) % 20),
              'p1@probe.test', '', '{"employment_type": "employee"}', 'probe', now(), now()
         FROM generate_series(1, $1::int) g`,
      [REQUESTS],
    );
    await sql.query('CREATE TABLE probe_baseline (id bigserial PRIMARY KEY, v text NOT NULL)');
    await sql.query('ANALYZE');
    const catalog = await catalogCache.get(sql);

    const t0 = performance.now();
    const base = await drive(BASELINE, CALLERS, (i) =>
      sql.transaction((tx) => tx.query('INSERT INTO probe_baseline (v) VALUES ($1)', [`row ${i}`])),
    );
    const baseRate = rate(BASELINE, Math.max(...base) - t0);

    const t1 = performance.now();
    const done = await drive(REQUESTS, CALLERS, (i) => {
      phase = i < REQUESTS / 10 ? 'first' : i >= REQUESTS - REQUESTS / 10 ? 'last' : 'mid';
      return submitRequest(sql, catalog, new Date(), {
        requester: 'p1@probe.test',
        beneficiary: `p${i + 1}@probe.test`,
        entitlement: 'wiki:read',
        justification: 'probe justification text',
        duration: 3600,
        via: 'cli',
      });
    });
    const sorted = [...done].sort((a, b) => a - b);
    const total = sorted[sorted.length - 1]! - t1;
    const tenth = Math.max(1, Math.floor(REQUESTS / 10));
    const first = rate(tenth, sorted[tenth - 1]! - t1);
    const last = rate(tenth, sorted[REQUESTS - 1]! - sorted[REQUESTS - tenth - 1]!);

    const outcomes = await sql.query<{ status: string; n: number | string }>(
      'SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY status',
    );
    const verified = await verifyAudit(sql);
    const f = (v: number) => `${v.toFixed(0)}/s`;
    console.log(
      `store: ${store.kind}, ${CALLERS} caller(s), ${REQUESTS} requests (${outcomes.map((o) => `${o.status} ${o.n}`).join(', ')})`,
    );
    console.log(`baseline: BEGIN; INSERT; COMMIT      ${f(baseRate)}  (${BASELINE} transactions)`);
    console.log(
      `submit: ${f(rate(REQUESTS, total))} = ${((100 * rate(REQUESTS, total)) / baseRate).toFixed(1)} % of baseline; first 10 % ${f(first)}, last 10 % ${f(last)} (last/first ${((100 * last) / first).toFixed(1)} %)`,
    );
    if (process.env.PROBE_TRACE)
      for (const [k, v] of [...stats]
        .filter(([k]) => !k.startsWith('mid') && !k.startsWith('setup'))
        .sort(([a], [b]) => (a.slice(6) < b.slice(6) ? -1 : 1)))
        console.log(`${(v.ms / v.n).toFixed(3)} ms x ${v.n}  ${k}`);
    console.log(`audit chain: ${JSON.stringify(verified).slice(0, 160)}`);
  } finally {
    await pool?.end();
    await store.close();
  }
}

await main();
