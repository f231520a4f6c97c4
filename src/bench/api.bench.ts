/**
 * The HTTP API under load, beside a bare route measured in the same run (issue 8's targets).
 *
 *   npm run bench:api                  (server at DATABASE_URL, else 127.0.0.1:5432)
 *   BENCH_API_RATE=200 BENCH_API_SECONDS=10 BENCH_API_MAX_SECONDS=10 BENCH_API_CLI=20 (the defaults)
 *
 * A database of its own (gh_bench_api_<pid>, dropped at the end) holds the Acme configuration and
 * synthetic people. `POST /api/v1/requests` is called from a second process with a distinct
 * (beneficiary, entitlement) pair each time, so every call is decided, auto-approved and written:
 * request, audit events, grant, apply job. (a) at a fixed rate, one call every 1/rate s from a
 * paced sender, latency counted from when each call was due (ADR 0048); (b) as fast as it
 * answers (autocannon), each route at 16 and at 64 connections in alternating slices, its best
 * concurrency giving its rate (ADR 0057): throughput. The baseline: a bare Fastify route doing one INSERT + COMMIT
 * through the same pool, under the same load. Then a CLI command through the local command channel, beside
 * `node -e 0`. Prints a table and writes bench/results/api.json.
 */
import '../v8-flags.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { openStore } from '../store/open.js';
import { withDb } from '../store/test-store.js';
import {
  type ApiBenchResult,
  measureApi,
  measureApiApart,
  measureCliChannel,
  pct,
} from './api-run.js';
import type { LoadResult, Tail } from './api-load.js';
import { type Scenario, type ScenarioResult, round } from './suite/measure.js';
import { cpuText } from './suite/cpu.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const OPTS = {
  rate: num('BENCH_API_RATE', 200),
  rateSeconds: num('BENCH_API_SECONDS', 10),
  maxSeconds: num('BENCH_API_MAX_SECONDS', 10),
  // Where the bare route peaks (16) and where the API, which decides callers together, does (64):
  // each route's rate is its best of the two (ADR 0057).
  concurrency: (process.env.BENCH_API_CONNECTIONS ?? '16,64').split(',').map(Number),
  slices: num('BENCH_API_SLICES', 2),
  warmup: num('BENCH_API_WARMUP', 500),
  // Every call needs a (person, entitlement) pair of its own: 20,000 people ran out on a fast
  // machine, whose phases and in-process calls answered more than that.
  people: num('BENCH_API_PEOPLE', 60_000),
  sequential: num('BENCH_API_SEQUENTIAL', 300),
  cliRuns: num('BENCH_API_CLI', 20),
};

const ms = (v: number) => `${v.toFixed(2)} ms`;
const tailText = (t: Tail | undefined) =>
  t
    ? `${t.calls} calls above ${t.above_ms} ms in ${t.stalls} stalls, the largest ${t.largest.calls} calls due at ${(t.largest.at_ms / 1000).toFixed(2)} s`
    : 'unknown';
// Which process was late, if any: the server's loop, or the sender's.
const loopText = (x: LoadResult) =>
  `event loop late at most ${x.loop?.max_ms ?? '?'} ms in the server, ${x.senderLoop?.max_ms ?? '?'} ms in the sender`;
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

function table(r: ApiBenchResult): string[] {
  const line = (name: string, x: LoadResult) =>
    row([
      name,
      x.ok.toLocaleString('en'),
      String(x.non2xx + x.errors + x.timeouts),
      `${x.perSecond.toFixed(0)}/s`,
      ms(x.p50),
      ms(x.p90),
      ms(x.p99),
    ]);
  const out = [
    row(['measurement', '2xx', 'failed', 'rate', 'p50', 'p90', 'p99']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
    line(`(a) POST /api/v1/requests at ${OPTS.rate}/s`, r.fixedRate.api),
    line(`(a) baseline: bare INSERT + COMMIT at ${OPTS.rate}/s`, r.fixedRate.bare),
    ...r.maxRuns.flatMap((m) => [
      line(`(b) POST /api/v1/requests, max, ${m.connections} connections`, m.api),
      line(`(b) baseline: bare INSERT + COMMIT, max, ${m.connections} connections`, m.bare),
    ]),
  ];
  const seq = r.core.sequential;
  out.push(
    row([
      'core: the use case in process, one at a time',
      String(seq.length),
      '0',
      `${(1000 / (seq.reduce((a, b) => a + b, 0) / seq.length)).toFixed(0)}/s`,
      ms(pct(seq, 50)),
      ms(pct(seq, 90)),
      ms(pct(seq, 99)),
    ]),
    line('POST /api/v1/requests, one connection, one at a time', r.core.httpSequential),
    row([
      `core: the use case in process, ${Math.max(...OPTS.concurrency)} at once, max`,
      '',
      '',
      `${r.core.perSecond.toFixed(0)}/s`,
      '',
      '',
      '',
    ]),
  );
  if (r.cli) {
    const cli = (name: string, xs: number[]) =>
      row([
        name,
        String(xs.length),
        '0',
        '',
        ms(pct(xs, 50)),
        ms(pct(xs, 90)),
        ms(Math.max(...xs)),
      ]);
    out.push(cli(`${r.cli.command} via the command channel (max)`, r.cli.channel));
    out.push(cli('baseline: node -e 0 (max)', r.cli.nodeNoop));
  }
  return out;
}

async function main() {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `gh_bench_api_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const load: number[][] = [loadavg()];
  const sampler = setInterval(() => load.push(loadavg()), 5000);
  let result: ApiBenchResult;
  try {
    // The store as serve opens it: the same pool (size included) and migrations.
    const store = await openStore({
      dataDir: tmpdir(),
      databaseUrl: withDb(url, name),
      command: 'serve',
    });
    try {
      result = await measureApi(store.sql, OPTS);
    } finally {
      await store.close();
    }
    result.cli = await measureCliChannel(OPTS.cliRuns);
  } finally {
    clearInterval(sampler);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
  load.push(loadavg());

  const { fixedRate, max, written, cli } = result;
  const share = max.api.perSecond / max.bare.perSecond;
  const cliP50 = pct(cli!.channel, 50);
  const targets = {
    p99_at_rate: { target: '< 25 ms', value: fixedRate.api.p99, met: fixedRate.api.p99 < 25 },
    throughput_share: { target: '>= 40 %', value: share, met: share >= 0.4 },
    cli_channel: {
      target: '< 300 ms each',
      value: Math.max(...cli!.channel),
      met: Math.max(...cli!.channel) < 300,
    },
  };
  const load1 = load.map((l) => l[0]!);
  console.log(table(result).join('\n'));
  console.log(
    `\nwritten by the API's 2xx answers: ${written.requests} requests (${written.autoApproved} auto-approved), ${written.jobs} jobs, ${written.auditEvents} audit events in all`,
  );
  console.log(
    `throughput: ${(share * 100).toFixed(1)} % of the bare route (API at ${max.connections.api} connections, bare at ${max.connections.bare}); CLI channel p50 ${ms(cliP50)} beside node -e 0 p50 ${ms(pct(cli!.nodeNoop, 50))}`,
  );
  for (const [name, x] of [
    ['API', fixedRate.api],
    ['bare', fixedRate.bare],
  ] as const)
    console.log(`tail at ${OPTS.rate}/s, ${name}: ${tailText(x.tail)}; ${loopText(x)}`);
  console.log(
    `load average (1 min) during the run: ${Math.min(...load1).toFixed(2)}–${Math.max(...load1).toFixed(2)}`,
  );
  for (const [k, t] of Object.entries(targets))
    console.log(`target ${k} ${t.target}: ${t.met ? 'met' : 'NOT met'} (${t.value.toFixed(3)})`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/api.json',
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        node: process.version,
        options: OPTS,
        load_average_1m: load1,
        targets,
        ...result,
      },
      null,
      2,
    )}\n`,
  );
  console.log('wrote bench/results/api.json');
}

/**
 * The suite's `api` scenario (ADR 0027's hook): the same measurements at the profile's rate,
 * phase length and people, on a store of its own (the suite's store kind), and the CLI channel
 * with the profile's command count. Reported as the other scenarios are, each beside its bare
 * baseline from the same run.
 */
export const scenario: Scenario = {
  name: 'api',
  usesWorld: false,
  async run({ profile, say }) {
    const c = Math.min(16, Math.max(2, Math.round(profile.apiRate / 12)));
    // The server in a process of its own, as serve runs, not in the suite's (ADR 0060).
    const {
      result: r,
      peakRssMb,
      storeKind,
    } = await measureApiApart({
      rate: profile.apiRate,
      rateSeconds: profile.apiSeconds,
      maxSeconds: profile.apiSeconds,
      concurrency: [c, 4 * c],
      slices: 2,
      // The test's tiny run skips the warm-up: it checks the code runs, not its speed.
      warmup: profile.apiSeconds > 2 ? profile.apiRate : 0,
      people: profile.apiPeople,
      sequential: Math.max(5, profile.apiRate),
      cliRuns: 0,
    });
    const rss = { peak_mb: peakRssMb };
    const { fixedRate, max } = r;
    say(
      `api: POST /api/v1/requests at ${profile.apiRate}/s p99 ${fixedRate.api.p99} ms (bare ${fixedRate.bare.p99} ms; ` +
        `p50 ${fixedRate.api.p50}, p90 ${fixedRate.api.p90}, max ${fixedRate.api.max} ms; ` +
        `GC ${fixedRate.api.gc?.pauses ?? '?'} pauses, longest ${fixedRate.api.gc?.max_ms ?? '?'} ms; ` +
        `tail ${tailText(fixedRate.api.tail)}; ${loopText(fixedRate.api)}); ` +
        `max ${max.api.perSecond.toFixed(0)}/s (${max.connections.api} connections) beside bare ${max.bare.perSecond.toFixed(0)}/s (${max.connections.bare}); ` +
        `CPU a call at max: API ${cpuOf(max.api)}, bare ${cpuOf(max.bare)}`,
    );
    const failed = (x: LoadResult) => x.non2xx + x.errors + x.timeouts;
    const detail = {
      store: storeKind,
      answered_2xx: fixedRate.api.ok + max.api.ok,
      failed: failed(fixedRate.api) + failed(max.api),
      p50_ms: fixedRate.api.p50,
      // Paced (ADR 0048): one call every 1/rate s, each call's latency from when it was due.
      at_rate: {
        load: 'paced, latency from when each call was due',
        sent: fixedRate.api.sent,
        seconds: round(fixedRate.api.seconds, 2),
        p90_ms: fixedRate.api.p90,
        max_ms: fixedRate.api.max,
        bare_p50_ms: fixedRate.bare.p50,
        gc: fixedRate.api.gc,
        tail: fixedRate.api.tail,
        loop: fixedRate.api.loop,
        sender_loop: fixedRate.api.senderLoop,
        bare_tail: fixedRate.bare.tail,
      },
      written: r.written,
    };
    const share = max.api.perSecond / max.bare.perSecond;
    const out: Record<string, ScenarioResult> = {
      api: {
        value: fixedRate.api.p99,
        unit: `ms p99 at ${profile.apiRate}/s`,
        baseline: fixedRate.bare.p99,
        baseline_of: 'bare Fastify route doing one INSERT + COMMIT, same pool and rate, p99',
        ratio: round(fixedRate.api.p99 / Math.max(fixedRate.bare.p99, 0.001), 2),
        target: '< 25 ms p99',
        pass: fixedRate.api.p99 < 25 && detail.failed === 0,
        peak_rss_mb: rss.peak_mb,
        detail,
      },
      'api-throughput': {
        value: round(max.api.perSecond, 1),
        unit: 'requests/s',
        baseline: round(max.bare.perSecond, 1),
        baseline_of: 'bare Fastify route doing one INSERT + COMMIT, as fast as it answers',
        ratio: round(share, 3),
        target: '>= 40 % of baseline',
        pass: share >= 0.4,
        peak_rss_mb: rss.peak_mb,
        detail: {
          // Each route's best concurrency gives its rate (ADR 0057); every one is listed.
          connections: max.connections,
          by_connections: r.maxRuns.map((m) => ({
            connections: m.connections,
            api_per_second: round(m.api.perSecond, 1),
            bare_per_second: round(m.bare.perSecond, 1),
            api_p99_ms: m.api.p99,
            bare_p99_ms: m.bare.p99,
          })),
          // What bounds the rate on two cores: CPU an answered call in each process.
          cpu_ms_per_call: max.api.cpuMsPerCall,
          baseline_cpu_ms_per_call: max.bare.cpuMsPerCall,
        },
      },
    };
    if (profile.cliRuns > 1) {
      const cli = await measureCliChannel(profile.cliRuns);
      const worst = Math.max(...cli.channel);
      const floor = Math.max(...cli.nodeNoop);
      out['api-cli'] = {
        value: round(worst, 1),
        unit: 'ms (slowest)',
        baseline: round(floor, 1),
        baseline_of: 'node -e 0 (slowest)',
        ratio: round(worst / floor, 2),
        target: '< 300 ms each',
        pass: worst < 300,
        peak_rss_mb: rss.peak_mb,
        detail: {
          command: cli.command,
          runs: cli.channel.length,
          p50_ms: round(pct(cli.channel, 50), 1),
        },
      };
    }
    return out;
  },
};

const cpuOf = (x: LoadResult) => (x.cpuMsPerCall ? cpuText(x.cpuMsPerCall) : 'unknown');

// Imported by the suite, it only provides `scenario`; started directly, it runs on its own.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
