import {
  PerformanceObserver,
  constants,
  monitorEventLoopDelay,
  performance,
} from 'node:perf_hooks';
import type { BenchWorld } from '../generate/world.js';
import type { Profile } from '../generate/profiles.js';
import type { BenchStore } from './store.js';

/**
 * What one scenario reports: its measured value beside a raw baseline measured in the same
 * process and run, their ratio, and its target. `ratio` is value / baseline, so for latencies
 * it says how many baselines one operation costs, for rates what share of the baseline it reaches.
 */
export interface ScenarioResult {
  value: number;
  unit: string;
  baseline: number;
  /** What the baseline is, in words ("SELECT 1 p99", "INSERT + COMMIT per request"). */
  baseline_of: string;
  ratio: number;
  target: string;
  pass: boolean;
  peak_rss_mb: number;
  detail?: Record<string, unknown>;
}

/** What every scenario may use; `store` holds the loaded world and its applied configuration. */
export interface ScenarioContext {
  profile: Profile;
  world: BenchWorld;
  store: BenchStore;
  /** The configuration directory the world was written to (validated, applied). */
  configDir: string;
  say(line: string): void;
}

/**
 * A scenario of the suite. Another module adds one by exporting `scenario: Scenario` from
 * src/bench/<name>.bench.ts and naming it in EXTERNAL (suite/scenarios.ts).
 */
export interface Scenario {
  name: string;
  /** Uses the loaded world (`ctx.store`); otherwise it makes what it needs itself. */
  usesWorld: boolean;
  run(ctx: ScenarioContext): Promise<Record<string, ScenarioResult>>;
}

export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * Times `f(0)` … `f(n - 1)` after a warm-up (JIT, plan cache, Cedar) of `f(n)` … `f(n + warmup - 1)`,
 * so the measured calls meet nothing the warm-up cached for them; milliseconds per call.
 */
export async function timeEach(
  n: number,
  f: (i: number) => Promise<unknown> | unknown,
  warmup = Math.min(200, n),
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await f(n + i);
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f(i);
    xs.push(performance.now() - t);
  }
  return xs;
}

/** The highest resident set size seen while it runs, sampled every 100 ms, in MiB. */
export class RssWatch {
  private peak = process.memoryUsage.rss();
  readonly start = this.peak;
  // Every 100 ms: reading RSS costs a system call that, sampled every 20 ms, took a measurable
  // share of a loaded run's CPU from the workload it watched.
  private readonly timer = setInterval(() => this.sample(), 100);

  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
  }

  stop(): { peak_mb: number; start_mb: number } {
    clearInterval(this.timer);
    this.sample();
    return { peak_mb: mb(this.peak), start_mb: mb(this.start) };
  }
}

/**
 * Garbage-collection pauses of this process while it runs: in scenarios that serve from the
 * benchmark's own process, the world's objects share the heap with the code measured, so a slow
 * sample may be a pause that a server process of its own would not have had.
 */
export class GcWatch {
  private readonly pauses: { ms: number; major: boolean }[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      this.pauses.push({ ms: e.duration, major: kind === constants.NODE_PERFORMANCE_GC_MAJOR });
    }
  });

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): {
    pauses: number;
    total_ms: number;
    max_ms: number;
    major: number;
    major_ms: number;
    major_max_ms: number;
  } {
    this.observer.disconnect();
    const major = this.pauses.filter((p) => p.major);
    return {
      pauses: this.pauses.length,
      total_ms: round(this.pauses.reduce((a, p) => a + p.ms, 0)),
      max_ms: round(Math.max(0, ...this.pauses.map((p) => p.ms))),
      major: major.length,
      major_ms: round(major.reduce((a, p) => a + p.ms, 0)),
      major_max_ms: round(Math.max(0, ...major.map((p) => p.ms))),
    };
  }
}

/**
 * How late this process's event loop ran its timers while watched: a stall of the loop holds
 * every call in flight, as a GC pause does, but GcWatch does not see one that is not a collection.
 */
export class LoopWatch {
  private readonly histogram = monitorEventLoopDelay({ resolution: 10 });

  constructor() {
    this.histogram.enable();
  }

  stop(): { max_ms: number; p99_ms: number } {
    this.histogram.disable();
    const ms = (ns: number) => round(ns / 1e6, 1);
    return { max_ms: ms(this.histogram.max), p99_ms: ms(this.histogram.percentile(99)) };
  }
}

export const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
export const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** Rate per second over the first and the last tenth of ordered completion times (ms). */
export function tenths(times: readonly number[], start: number): { first: number; last: number } {
  const n = Math.max(1, Math.floor(times.length / 10));
  // Completion times are whole milliseconds and batches commit together: a tenth that finished
  // within one millisecond counts as taking one.
  const rate = (k: number, ms: number) => (k / Math.max(ms, 1)) * 1000;
  return {
    first: rate(n, times[n - 1]! - start),
    last: rate(n, times[times.length - 1]! - times[times.length - 1 - n]!),
  };
}
