/**
 * The load generator of the API benchmark, run as a process of its own (api-run.ts forks it), so
 * the server under test does not share its event loop with the client measuring it. It takes one
 * job as an IPC message, runs it on loopback, and answers with what it measured: autocannon as
 * fast as the server answers, a paced sender of its own at a fixed rate (ADR 0048).
 */
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { answerJob } from './child-job.js';
import type { CpuSpent } from './suite/cpu.js';
import { LoopWatch } from './suite/measure.js';

export interface LoadJob {
  url: string;
  path: string;
  token: string;
  connections: number;
  /**
   * Requests per second across all connections, one every 1/rate s (runPaced); absent: as fast
   * as the server answers (autocannon).
   */
  rate?: number;
  /** Requests to send … */
  amount?: number;
  /** … or else seconds to run. */
  seconds?: number;
  /** The first body's index: each body names a distinct (beneficiary, entitlement) pair. */
  first: number;
  people: number;
  entitlements: string[];
}

export interface LoadResult {
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** The next unused body index. */
  next: number;
  statuses: Record<string, number>;
  /** CPU the load generator spent on the phase, ms (user + system). */
  loadCpuMs?: number;
  /** Set by the runner: this process's garbage-collection pauses during the phase. */
  gc?: { pauses: number; max_ms: number; major: number; major_max_ms: number };
  /** Set by the runner: CPU an answered call, ms, on each side (null where not readable). */
  cpuMsPerCall?: CpuSpent;
  /** Set by the runner: how late this (the API's) process's event loop ran, ms. */
  loop?: { max_ms: number; p99_ms: number };
  /** Paced loads only: how late the sender's own event loop ran, ms (a late sender is counted). */
  senderLoop?: { max_ms: number; p99_ms: number };
  /** Paced loads only: where the calls slower than the p99 were due (tailOf). */
  tail?: Tail;
}

/**
 * The calls of a paced load slower than its p99, in runs of calls due close together: whether a
 * p99 comes from one stall (everything waiting on one thing at once) or from calls slow here and
 * there, which need different remedies.
 */
export interface Tail {
  /** The threshold: the load's p99, ms. */
  above_ms: number;
  /** Calls slower than that. */
  calls: number;
  /** Runs of them, each call due within STALL_GAP_MS of the one before. */
  stalls: number;
  /** The largest run: how many calls, and when its first was due, ms into the load. */
  largest: { calls: number; at_ms: number };
}

const STALL_GAP_MS = 100;

/** Tail of calls `(due ms into the load, latency ms)`, sorted by due or not. */
export function tailOf(calls: readonly { due: number; ms: number }[], aboveMs: number): Tail {
  const slow = calls.filter((c) => c.ms > aboveMs).sort((a, b) => a.due - b.due);
  const runs: { calls: number; at_ms: number }[] = [];
  let prev = -Infinity;
  for (const c of slow) {
    if (c.due - prev > STALL_GAP_MS) runs.push({ calls: 0, at_ms: Math.round(c.due) });
    runs[runs.length - 1]!.calls++;
    prev = c.due;
  }
  const largest = runs.reduce((a, b) => (b.calls > a.calls ? b : a), { calls: 0, at_ms: 0 });
  return { above_ms: aboveMs, calls: slow.length, stalls: runs.length, largest };
}

/**
 * Body `i`: person `p{2 + i mod (P - 1)}` and entitlement `(i / (P - 1)) mod E`, so no two bodies
 * are the same pair and bodies in flight together name different people. (Decisions about one
 * person queue on that person's row lock by design; walking a person's entitlements in a row, as
 * this did before, made concurrent requests wait for each other's commits.)
 */
export function body(i: number, people: number, entitlements: string[]): string {
  const e = entitlements.length;
  const person = 2 + (i % (people - 1));
  const entitlement = entitlements[Math.floor(i / (people - 1)) % e];
  return JSON.stringify({
    beneficiary: `p${person}@bench.test`,
    entitlement,
    duration: '8h',
    reason: 'benchmark request through the HTTP API',
  });
}

export function runLoad(job: LoadJob): Promise<LoadResult> {
  return job.rate ? runPaced({ ...job, rate: job.rate }) : runAutocannon(job);
}

async function runAutocannon(job: LoadJob): Promise<LoadResult> {
  let i = job.first;
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    ...(job.amount ? { amount: job.amount } : { duration: job.seconds }),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: job.path,
        headers: {
          authorization: `Bearer ${job.token}`,
          'content-type': 'application/json',
        },
        setupRequest: (req) => ({ ...req, body: body(i++, job.people, job.entitlements) }),
      },
    ],
  });
  return {
    sent: result.requests.sent,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    perSecond: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    next: i,
    statuses: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count ?? 0]),
    ),
  };
}

const TIMEOUT_MS = 10_000;

/** The p-th percentile of sorted milliseconds, to a tenth. */
function at(sorted: number[], p: number): number {
  const v = sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return v === undefined ? NaN : Math.round(v * 10) / 10;
}

/**
 * An open-loop load at a fixed rate: call k is due at start + k/rate and its latency runs from
 * when it was due, not from when it went out, so a server (or a sender) that falls behind has
 * the wait counted against it. At most `connections` calls are in flight on kept-alive sockets;
 * a call due while all are busy waits for one, and that wait is part of its latency.
 *
 * Why not autocannon's overallRate (ADR 0048): it gives each connection a quota per second that
 * the connection spends at full speed when its one-second timer fires, so a second's calls all
 * arrive at once, and it corrects for coordinated omission with an expected interval of
 * ceil(1 / rate) ms, one millisecond, recording a call of n ms n times.
 */
async function runPaced(job: LoadJob & { rate: number }): Promise<LoadResult> {
  const url = new URL(job.path, job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const total = job.amount ?? Math.round(job.rate * (job.seconds ?? 1));
  const interval = 1000 / job.rate;
  const timeline: { due: number; ms: number }[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let last = 0;
  const call = (k: number, due: number) =>
    new Promise<void>((resolve) => {
      const payload = body(job.first + k, job.people, job.entitlements);
      let finished = false;
      let timedOut = false;
      const done = (status?: number) => {
        if (finished) return;
        finished = true;
        const end = performance.now();
        last = Math.max(last, end);
        timeline.push({ due, ms: end - due });
        if (status !== undefined) {
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status >= 200 && status < 300) ok++;
          else non2xx++;
        }
        resolve();
      };
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          timeout: TIMEOUT_MS,
          headers: {
            authorization: `Bearer ${job.token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (res) => {
          res.resume();
          res.once('end', () => done(res.statusCode));
          res.once('error', () => {
            if (!finished) errors++;
            done();
          });
        },
      );
      req.once('timeout', () => {
        timedOut = true;
        timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.once('error', () => {
        if (!timedOut && !finished) errors++;
        done();
      });
      req.end(payload);
    });
  await warmClient(job.url, agent, Math.min(job.connections, 8));
  const loop = new LoopWatch();
  const start = performance.now() + 50;
  const inFlight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const due = start + k * interval;
    // Never before it is due: a timer keeps whole milliseconds of the loop's clock and can fire
    // up to one early (which would shorten the latency counted from `due`); late counts against us.
    for (let wait = due - performance.now(); wait > 0; wait = due - performance.now())
      await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    inFlight.push(call(k, due));
  }
  await Promise.all(inFlight);
  const senderLoop = loop.stop();
  agent.destroy();
  writeTimeline(job, start, timeline);
  const sorted = timeline.map((c) => c.ms).sort((a, b) => a - b);
  const seconds = (last - start) / 1000;
  const p99 = at(sorted, 99);
  return {
    sent: total,
    ok,
    non2xx,
    errors,
    timeouts,
    seconds,
    perSecond: ok / seconds,
    p50: at(sorted, 50),
    p90: at(sorted, 90),
    p99,
    max: at(sorted, 100),
    next: job.first + total,
    statuses,
    senderLoop,
    tail: tailOf(
      timeline.map((c) => ({ due: c.due - start, ms: c.ms })),
      p99,
    ),
  };
}

/**
 * BENCH_API_TIMELINE=dir: each paced load's calls, `due` as epoch ms and `ms` its latency, in a
 * file of that directory, to set beside what else was sampled with the wall clock (the server's
 * waits, its checkpoints in the server log).
 */
function writeTimeline(job: LoadJob, start: number, timeline: { due: number; ms: number }[]) {
  const dir = process.env.BENCH_API_TIMELINE;
  if (!dir) return;
  const epoch = performance.timeOrigin;
  const file = join(
    dir,
    `paced-${job.path.replaceAll('/', '_')}-${Math.round(epoch + start)}.json`,
  );
  const calls = timeline.map((c) => ({ due: Math.round((epoch + c.due) * 10) / 10, ms: c.ms }));
  writeFileSync(file, JSON.stringify(calls));
}

/**
 * A few GETs of `/readyz` on the agent's sockets before the clock starts: this process is new for
 * each phase, and its first calls compile node's HTTP client and open the sockets, a cost of the
 * sender (10–15 ms on the first calls to either route) that the paced latency would otherwise
 * charge to the server. Whatever the answer (the bare server has no such route), it is not counted.
 */
async function warmClient(base: string, agent: Agent, sockets: number): Promise<void> {
  const url = new URL('/readyz', base);
  const once = () =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent, timeout: TIMEOUT_MS }, (res) => {
        res.resume();
        res.once('end', resolve);
        res.once('error', () => resolve());
      });
      req.once('error', () => resolve());
      req.once('timeout', () => req.destroy());
      req.end();
    });
  for (let round = 0; round < 2; round++) await Promise.all(Array.from({ length: sockets }, once));
}

// Forked as a process of its own; imported (for `body`), it listens to nobody's messages.
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  answerJob(async (job: LoadJob) => {
    const cpu = process.cpuUsage();
    const r = await runLoad(job);
    const spent = process.cpuUsage(cpu);
    return { ...r, loadCpuMs: (spent.user + spent.system) / 1000 };
  });
