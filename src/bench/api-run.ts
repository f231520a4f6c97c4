/**
 * The API benchmark's measurements (api.bench.ts prints and records them; api-run.test.ts runs
 * them small): the real server as `serve` builds it, loaded from a second process, beside a bare
 * Fastify route doing one INSERT + COMMIT through the same store connection pool.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { appOn } from '../cli/context.js';
import { loadConfigDir } from '../config/load.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import type { Sql } from '../core/sql.js';
import { DEMO_CONFIG } from '../demo/seed.js';
import { buildServer } from '../http/server.js';
import { SqlTrace } from './suite/trace-sql.js';
import { cpuWatch, perUnit, serverIsLocal } from './suite/cpu.js';
import { GcWatch, LoopWatch } from './suite/measure.js';
import { migrationFiles } from '../store/migrate.js';
import { ANALYZE_EVERY_MINUTES, refreshStatistics } from '../core/jobs/statistics.js';
import { type LoadJob, type LoadResult, body } from './api-load.js';
import { best, combined } from './api-slices.js';
import { runJob } from './child-job.js';

export interface ApiBenchOptions {
  /** The fixed rate of phase (a), requests per second, and how long it runs. */
  rate: number;
  rateSeconds: number;
  /** How long phase (b), as fast as the server answers, loads each route at each concurrency. */
  maxSeconds: number;
  /**
   * Callers at once in phase (b), each a kept-alive connection: each route is loaded at each
   * count, and its rate is the best of them (ADR 0057). The largest also sets the paced phase's
   * sockets and the in-process callers.
   */
  concurrency: readonly number[];
  /** Phase (b)'s time cut into this many turns, the routes alternating, so drift hits both. */
  slices: number;
  /** Requests sent before measuring (JIT, plan caches, the catalog). */
  warmup: number;
  /** Seeded people: with the auto-approved entitlements, the distinct pairs available. */
  people: number;
  /** Calls made one at a time, in process and over one HTTP connection (core vs HTTP layer). */
  sequential: number;
  /** CLI commands sent to a running `serve` over the local command channel. */
  cliRuns: number;
}

export interface Phase {
  api: LoadResult;
  bare: LoadResult;
}

/** Phase (b) at one concurrency: each route's slices taken together (`combined`). */
export interface MaxRun {
  connections: number;
  api: LoadResult;
  bare: LoadResult;
}

/** The same use case called in this process, without HTTP: what the core costs on its own. */
export interface CoreResult {
  /** One at a time: milliseconds per call, beside one HTTP connection sending one at a time. */
  sequential: number[];
  httpSequential: LoadResult;
  /** The largest concurrency's callers at once for the max phase's time: calls per second. */
  perSecond: number;
}

export interface ApiBenchResult {
  fixedRate: Phase;
  /** Phase (b): each route at the concurrency where it answered most (named in `connections`). */
  max: Phase & { connections: { api: number; bare: number } };
  /** Phase (b) at every concurrency. */
  maxRuns: MaxRun[];
  core: CoreResult;
  /** What the API's 2xx answers left in the store: one request, its audit events, a job each. */
  written: { requests: number; autoApproved: number; jobs: number; auditEvents: number };
  cli?: { channel: number[]; nodeNoop: number[]; command: string };
}

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

/**
 * measureApi in a child process of its own (api-server-child.ts) on a bench store of its own: the
 * API's server with a heap of its own, as `serve` has. The child inherits this process's Node
 * flags and environment.
 */
export function measureApiApart(
  opts: ApiBenchOptions,
): Promise<{ result: ApiBenchResult; peakRssMb: number; storeKind: string }> {
  return runJob(here('./api-server-child.js'), opts, "the API's benchmark process");
}

/** One load job in a child process of its own; killed if it outlives its bound. */
function load(job: LoadJob, boundSeconds: number): Promise<LoadResult> {
  return runJob(here('./api-load.js'), job, 'the load generator', boundSeconds);
}

async function seedPeople(sql: Sql, people: number): Promise<void> {
  await sql.query(
    `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
     SELECT 'p' || g || '@bench.test', 'human', 'active', 'Person ' || g, 'dept' || (g % 50), 'title' || ((g / 50) % 20),
            'p1@bench.test', '', '{"employment_type": "employee"}', 'bench', now(), now()
       FROM generate_series(1, $1::int) g`,
    [people],
  );
  // What serve's first sweep does on this store: the people analyzed, the empty tables not.
  await refreshStatistics(sql, new Date(), ANALYZE_EVERY_MINUTES);
}

/** serve's default `--interval`: how often its sweep, and so the statistics refresh, runs. */
const SWEEP_SECONDS = 30;

/** A bare route on its own Fastify instance: no hooks, no auth, no log; one INSERT + COMMIT. */
async function bareServer(sql: Sql): Promise<FastifyInstance> {
  await sql.query('CREATE TABLE bench_bare (id bigserial PRIMARY KEY, body jsonb NOT NULL)');
  const bare = Fastify({ logger: false });
  bare.post('/bare', async (req, reply) => {
    await sql.transaction((tx) =>
      tx.query('INSERT INTO bench_bare (body) VALUES ($1)', [JSON.stringify(req.body)]),
    );
    return reply.code(201).send({ ok: true });
  });
  return bare;
}

/**
 * Phases (a) and (b) against a migrated, empty store. The server is `serve`'s: the same
 * buildServer, token authentication, request log (to /dev/null through a synchronous write, as
 * serve's stdout), and rate limiters, whose limits alone are raised: every request here comes
 * from one address and one token, which production limits would cut at 1,200 a minute.
 */
export async function measureApi(store: Sql, opts: ApiBenchOptions): Promise<ApiBenchResult> {
  // BENCH_TRACE=1: every statement the API's side makes, timed (the bare route's are not).
  // BENCH_API_TIMELINE=dir as well: each statement's and each call's times, to that directory.
  const timeline = process.env.BENCH_API_TIMELINE;
  const trace = process.env.BENCH_TRACE ? new SqlTrace({ events: Boolean(timeline) }) : undefined;
  const calls: { start: number; end: number; status: number }[] = [];
  const sql = trace ? trace.wrap(store) : store;
  const local = serverIsLocal(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/postgres');
  const catalog = new CatalogCache();
  const connectors = connectorSource(
    async (name) => (await catalog.get(sql)).connectors.get(name),
    { env: {}, dataDir: '/nonexistent' },
  );
  const app = await appOn(sql, catalog, connectors, { env: {}, cwd: tmpdir() }, undefined);
  const { config } = await loadConfigDir(DEMO_CONFIG);
  await app.apply(config, 'bench', false);
  await seedPeople(sql, opts.people);
  // Low-risk access for 8 hours is auto-approved by Acme's `short-low-risk` policy: every request
  // is decided, granted and given its apply job.
  const entitlements = config.entitlements
    .filter((e) => e.risk === 'low' && e.kinds.includes('human'))
    .map((e) => e.id);
  const { token } = await app.createToken({
    identity: 'p1@bench.test',
    scopes: ['request'],
    actor: 'bench',
    via: 'cli',
  });
  const devnull = openSync('/dev/null', 'w');
  const server = await buildServer(app, {
    schemaVersion: migrationFiles().at(-1)?.version ?? 0,
    onInternalError: (id, e) => process.stderr.write(`request ${id} failed: ${String(e)}\n`),
    log: { stream: { write: (line) => void writeSync(devnull, line) } },
    rateLimits: { apiPerToken: 1e9, apiPerAddress: 1e9 },
    signIn: { env: {}, cookieSecure: false },
  });
  if (timeline)
    server.addHook('onResponse', async (req, reply) => {
      const end = performance.timeOrigin + performance.now();
      calls.push({ start: end - reply.elapsedTime, end, status: reply.statusCode });
    });
  const bare = await bareServer(store);
  // The statistics refresh of serve's sweep (its jobs are left alone: they would provision every
  // grant into the demo's targets), on serve's interval, as the tables grow from empty.
  let refreshing: Promise<unknown> = Promise.resolve();
  const statistics = setInterval(() => {
    refreshing = refreshStatistics(sql, new Date(), ANALYZE_EVERY_MINUTES).catch((e: unknown) =>
      process.stderr.write(`statistics refresh failed: ${String(e)}\n`),
    );
  }, SWEEP_SECONDS * 1000);
  try {
    const apiUrl = await server.listen({ port: 0, host: '127.0.0.1' });
    const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });
    let next = 0;
    const widest = Math.max(...opts.concurrency);
    const run = async (target: 'api' | 'bare', shape: Partial<LoadJob>, bound: number) => {
      const cpu = cpuWatch(local);
      const gc = new GcWatch();
      const loop = new LoopWatch();
      const r = await load(
        {
          url: target === 'api' ? apiUrl : bareUrl,
          path: target === 'api' ? '/api/v1/requests' : '/bare',
          token,
          connections: widest,
          first: next,
          people: opts.people,
          entitlements,
          ...shape,
        },
        bound,
      );
      next = r.next;
      // A pause of this process is a pause of every call in flight: the first suspect of a p99.
      const g = gc.stop();
      r.gc = { pauses: g.pauses, max_ms: g.max_ms, major: g.major, major_max_ms: g.major_max_ms };
      r.loop = loop.stop();
      // CPU an answered call: this process (the API), the server, the load generator.
      const spent = cpu.stop(Math.max(1, r.ok));
      r.cpuMsPerCall = {
        ...spent,
        load_ms: r.loadCpuMs === undefined ? null : perUnit(r.loadCpuMs, Math.max(1, r.ok)),
      };
      return r;
    };
    // Bounded in time as well as count: a server slower than the rate answers fewer, and the
    // table says how many it answered at what latency.
    const fixed = { rate: opts.rate, seconds: opts.rateSeconds };
    const bound = opts.rateSeconds * 3 + 60;
    // Each route warmed just before its own phase: a route left idle while the other was warmed
    // and measured (4 s and more) began its phase cold, its first 60 ms of statements taking 2–6
    // ms where they take 0.3–0.9, 8–15 of the 20 calls that make a p99 of 2,000 (ADR 0060).
    const warmThenMeasure = async (target: 'api' | 'bare') => {
      if (opts.warmup > 0) {
        const warm = { rate: opts.rate, seconds: Math.max(1, Math.round(opts.warmup / opts.rate)) };
        // A second as fast as the route answers first: at the paced rate the pool opens some of
        // its connections late or not at all, and a connection's first use of each statement
        // plans it on a backend with cold caches, tens of milliseconds that landed in the
        // measured phase's first calls. Then the paced rate, so the phase starts from it.
        await run(target, { seconds: 1, connections: widest }, bound);
        await run(target, warm, bound);
      }
      return run(target, fixed, bound);
    };
    const fixedRate = { api: await warmThenMeasure('api'), bare: await warmThenMeasure('bare') };
    // Each route at each concurrency for maxSeconds, in `slices` turns: a turn loads the API
    // and the bare route one after the other, which goes first alternating, so a machine that
    // speeds up or slows down during the phase weighs on both routes alike (ADR 0057).
    const slice = { seconds: Math.max(1, Math.round(opts.maxSeconds / opts.slices)) };
    const sliced = new Map<string, LoadResult[]>();
    for (let turn = 0; turn < opts.slices; turn++)
      for (const connections of opts.concurrency)
        for (const target of turn % 2 === 0
          ? (['api', 'bare'] as const)
          : (['bare', 'api'] as const)) {
          const r = await run(target, { ...slice, connections }, slice.seconds + 30);
          const key = `${target} ${connections}`;
          sliced.set(key, [...(sliced.get(key) ?? []), r]);
        }
    const maxRuns: MaxRun[] = opts.concurrency.map((connections) => ({
      connections,
      api: combined(sliced.get(`api ${connections}`)!),
      bare: combined(sliced.get(`bare ${connections}`)!),
    }));
    const bestOf = (target: 'api' | 'bare') =>
      best(maxRuns.map((m) => ({ connections: m.connections, result: m[target] })));
    const [apiBest, bareBest] = [bestOf('api'), bestOf('bare')];
    const max = {
      api: apiBest.result,
      bare: bareBest.result,
      connections: { api: apiBest.connections, bare: bareBest.connections },
    };
    const inProcess = await measureCore(
      (i) => {
        const b = JSON.parse(body(i, opts.people, entitlements)) as Record<string, string>;
        return app.request({
          requester: 'p1@bench.test',
          via: 'api',
          beneficiary: b.beneficiary!,
          entitlement: b.entitlement!,
          justification: b.reason!,
          duration: 8 * 3600,
          ticket: null,
          emergency: false,
        });
      },
      () => next++,
      opts,
    );
    const core = {
      ...inProcess,
      httpSequential: await run('api', { connections: 1, amount: opts.sequential }, 600),
    };
    if (next >= (opts.people - 1) * entitlements.length)
      throw new Error(
        `the run used ${next} bodies but only ${(opts.people - 1) * entitlements.length} pairs are distinct: seed more people`,
      );
    const [w] = await sql.query<Record<string, number | string>>(
      `SELECT (SELECT count(*) FROM requests WHERE requester = 'p1@bench.test') AS requests,
              (SELECT count(*) FROM requests WHERE requester = 'p1@bench.test' AND decision->>'outcome' = 'auto_approved') AS auto,
              (SELECT count(*) FROM jobs) AS jobs,
              (SELECT count(*) FROM audit_events) AS audit`,
    );
    for (const line of trace?.report(Number(w!.requests)) ?? [])
      process.stderr.write(`trace ${line}\n`);
    if (timeline) {
      writeFileSync(join(timeline, 'server-calls.json'), JSON.stringify(calls));
      if (trace?.events)
        writeFileSync(join(timeline, 'statements.json'), JSON.stringify(trace.events));
    }
    return {
      fixedRate,
      max,
      maxRuns,
      core,
      written: {
        requests: Number(w!.requests),
        autoApproved: Number(w!.auto),
        jobs: Number(w!.jobs),
        auditEvents: Number(w!.audit),
      },
    };
  } finally {
    clearInterval(statistics);
    await refreshing;
    await server.close();
    await bare.close();
    closeSync(devnull);
  }
}

async function measureCore(
  call: (i: number) => Promise<unknown>,
  index: () => number,
  opts: ApiBenchOptions,
): Promise<Omit<CoreResult, 'httpSequential'>> {
  const sequential: number[] = [];
  for (let k = 0; k < opts.sequential; k++) {
    const t = performance.now();
    await call(index());
    sequential.push(performance.now() - t);
  }
  let done = 0;
  const start = performance.now();
  const until = start + opts.maxSeconds * 1000;
  await Promise.all(
    Array.from({ length: Math.max(...opts.concurrency) }, async () => {
      while (performance.now() < until) {
        await call(index());
        done++;
      }
    }),
  );
  const perSecond = (done / (performance.now() - start)) * 1000;
  return { sequential, perSecond };
}

const CLI = here('../cli/main.js');

function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(performance.now() - t)
        : reject(new Error(`${args.join(' ')} exited with ${code}: ${err}`)),
    );
  });
}

/**
 * A command sent to a running `serve` over the local command channel (ADR 0022), each a new
 * `gatehouse` process as a person would run it, beside `node -e 0` (the floor of any process).
 * The channel exists only for an embedded store, so this `serve` holds a PGlite store of its own.
 */
export async function measureCliChannel(runs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-api-cli-'));
  const data = join(dir, 'store');
  const env = { ...process.env };
  delete env.DATABASE_URL;
  let serve: ChildProcess | undefined;
  try {
    await timed([CLI, 'init', '--data', data], env);
    serve = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      serve!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('gatehouse serving at') && existsSync(join(data, 'serve.json'))) resolve();
      });
      serve!.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const command = ['requests', '--data', data];
    await timed([CLI, ...command], env); // the first pays for the server's lazy imports
    const channel: number[] = [];
    const nodeNoop: number[] = [];
    for (let i = 0; i < runs; i++) {
      channel.push(await timed([CLI, ...command], env));
      nodeNoop.push(await timed(['-e', '0'], env));
    }
    return { channel, nodeNoop, command: 'gatehouse requests' };
  } finally {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
