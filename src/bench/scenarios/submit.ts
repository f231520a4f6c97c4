import { performance } from 'node:perf_hooks';
import type { Sql } from '../../core/sql.js';
import { benchApp } from '../suite/app.js';
import {
  type Scenario,
  type ScenarioResult,
  RssWatch,
  pct,
  round,
  tenths,
} from '../suite/measure.js';
import type { BenchStore } from '../suite/store.js';
import { RequestDrawer } from './draw.js';
import { SqlTrace } from '../suite/trace-sql.js';
import { cpuText, cpuWatch, serverIsLocal } from '../suite/cpu.js';

/**
 * Requests submitted end to end (decided, decision record, audit events, work queued, committed)
 * per second by 1 and by 8 callers, each caller its own connection on the server. Baseline: one
 * INSERT and COMMIT per request through the same driver at the same concurrency. The single
 * caller submits a tenth as many as the eight (a serial run of the full count would take most of
 * the suite's time without telling more).
 */
export const submitScenario: Scenario = {
  name: 'submit',
  usesWorld: true,
  async run({ profile, world, store, say }) {
    const drawer = new RequestDrawer(world, 303, true);
    const local = store.kind === 'server' && serverIsLocal(store.location);
    const out: Record<string, ScenarioResult> = {};
    await store.sql.query(
      'CREATE TABLE IF NOT EXISTS bench_submit_baseline (id bigserial PRIMARY KEY, beneficiary text NOT NULL, entitlement text NOT NULL, at timestamptz NOT NULL)',
    );
    for (const callers of [1, 8]) {
      const n =
        callers === 1
          ? Math.max(10, Math.round(profile.submitRequests / 10))
          : profile.submitRequests;
      const inputs = Array.from({ length: n }, () => drawer.next().input);
      const conns = connections(store, callers);
      const trace = process.env.BENCH_TRACE ? new SqlTrace() : undefined;
      try {
        const app = benchApp(trace ? trace.wrap(conns.sql) : conns.sql);
        await app.catalog(); // load the catalog before the clock starts
        const watch = new RssWatch();
        const cpu = cpuWatch(local);
        const run = await concurrently(n, callers, (i) => app.request(inputs[i]!));
        const runCpu = cpu.stop(n);
        const rss = watch.stop();
        for (const line of trace?.report(n) ?? []) say(`  trace ${line}`);
        const baseWatch = cpuWatch(local);
        const base = await concurrently(n, callers, (i) =>
          conns.sql.transaction((tx) =>
            tx.query(
              'INSERT INTO bench_submit_baseline (beneficiary, entitlement, at) VALUES ($1, $2, now())',
              [inputs[i]!.beneficiary, inputs[i]!.entitlement],
            ),
          ),
        );
        const baseCpu = baseWatch.stop(n);
        const rate = (n / run.ms) * 1000;
        const baseRate = (n / base.ms) * 1000;
        const { first, last } = tenths(run.done, run.start);
        const steady = last >= first * 0.9;
        const latency = {
          p50_ms: round(pct(run.latencies, 50), 2),
          p99_ms: round(pct(run.latencies, 99), 2),
          max_ms: round(
            run.latencies.reduce((a, b) => Math.max(a, b), 0),
            1,
          ),
        };
        say(
          `submit, ${callers} caller${callers > 1 ? 's' : ''}: ${n} requests in ${(run.ms / 1000).toFixed(1)} s = ${rate.toFixed(0)}/s; ` +
            `baseline INSERT + COMMIT ${baseRate.toFixed(0)}/s; ratio ${((rate / baseRate) * 100).toFixed(1)} %; ` +
            `first 10 % ${first.toFixed(0)}/s, last 10 % ${last.toFixed(0)}/s; ` +
            `a request p50 ${latency.p50_ms} ms, p99 ${latency.p99_ms} ms, max ${latency.max_ms} ms; ` +
            `CPU a request ${cpuText(runCpu)} (baseline ${cpuText(baseCpu)})`,
        );
        out[`submit-${callers}`] = {
          value: round(rate, 1),
          unit: 'requests/s',
          baseline: round(baseRate, 1),
          baseline_of: `one INSERT + COMMIT per request, ${callers} caller(s), same driver`,
          ratio: round(rate / baseRate, 3),
          target: '>= 40 % of baseline; last 10 % within 10 % of the first 10 %',
          pass: rate / baseRate >= 0.4 && steady,
          peak_rss_mb: rss.peak_mb,
          detail: {
            requests: n,
            callers,
            first_tenth_per_s: round(first, 1),
            last_tenth_per_s: round(last, 1),
            // Each request from its call to its answer: a stall of the store shows in the max.
            latency,
            // What bounds the rate on two cores: CPU a request on each side, and the baseline's.
            cpu_ms_per_request: runCpu,
            baseline_cpu_ms_per_request: baseCpu,
          },
        };
      } finally {
        await conns.end();
      }
    }
    return out;
  },
};

/** Callers on connections of their own: a pool of that size on the server; PGlite has one. */
function connections(store: BenchStore, callers: number): { sql: Sql; end(): Promise<void> } {
  if (store.pool) return store.pool(callers);
  return { sql: store.sql, end: async () => undefined };
}

/** Runs f(0..n-1) with `callers` loops taking the next index; completion times and latencies in ms. */
async function concurrently(
  n: number,
  callers: number,
  f: (i: number) => Promise<unknown>,
): Promise<{ ms: number; start: number; done: number[]; latencies: number[] }> {
  let next = 0;
  const done: number[] = [];
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await f(i);
        const end = performance.now();
        done.push(end);
        latencies.push(end - t);
      }
    }),
  );
  return { ms: performance.now() - start, start, done, latencies };
}
