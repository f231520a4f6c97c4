import type { CpuSpent } from './suite/cpu.js';
import type { LoadResult } from './api-load.js';

/** The middle value (the lower of the two middle ones for an even count). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

/** A per-call figure over slices, each slice weighted by the calls it answered. */
function weighted(
  slices: readonly LoadResult[],
  pick: (c: CpuSpent) => number | null | undefined,
): number | null {
  let sum = 0;
  let calls = 0;
  for (const s of slices) {
    const v = s.cpuMsPerCall ? pick(s.cpuMsPerCall) : undefined;
    if (v === null || v === undefined) return null;
    sum += v * s.ok;
    calls += s.ok;
  }
  return calls === 0 ? null : Math.round((sum / calls) * 1000) / 1000;
}

/**
 * One route's slices of a run as fast as it answers (ADR 0057) taken as one run: counts and
 * seconds added, so the rate is every 2xx over every second. The slices' latencies are not kept,
 * only their percentiles, which do not add: p50 and p90 are the slices' medians, p99 and max the
 * worst slice's, so no tail is hidden by the merge.
 */
export function combined(slices: readonly LoadResult[]): LoadResult {
  if (slices.length === 0) throw new Error('no slices to combine');
  const sum = (f: (s: LoadResult) => number) => slices.reduce((a, s) => a + f(s), 0);
  const ok = sum((s) => s.ok);
  const seconds = sum((s) => s.seconds);
  const statuses: Record<string, number> = {};
  for (const s of slices)
    for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const out: LoadResult = {
    sent: sum((s) => s.sent),
    ok,
    non2xx: sum((s) => s.non2xx),
    errors: sum((s) => s.errors),
    timeouts: sum((s) => s.timeouts),
    seconds,
    perSecond: seconds > 0 ? ok / seconds : 0,
    p50: median(slices.map((s) => s.p50)),
    p90: median(slices.map((s) => s.p90)),
    p99: Math.max(...slices.map((s) => s.p99)),
    max: Math.max(...slices.map((s) => s.max)),
    next: Math.max(...slices.map((s) => s.next)),
    statuses,
  };
  if (slices.every((s) => s.loadCpuMs !== undefined)) out.loadCpuMs = sum((s) => s.loadCpuMs!);
  if (slices.every((s) => s.gc)) {
    const gcs = slices.map((s) => s.gc!);
    out.gc = {
      pauses: gcs.reduce((a, g) => a + g.pauses, 0),
      max_ms: Math.max(...gcs.map((g) => g.max_ms)),
      major: gcs.reduce((a, g) => a + g.major, 0),
      major_max_ms: Math.max(...gcs.map((g) => g.major_max_ms)),
    };
  }
  if (slices.every((s) => s.cpuMsPerCall)) {
    out.cpuMsPerCall = {
      gatehouse_ms: weighted(slices, (c) => c.gatehouse_ms) ?? 0,
      server_ms: weighted(slices, (c) => c.server_ms),
      load_ms: weighted(slices, (c) => c.load_ms),
    };
  }
  return out;
}

/** A route at each concurrency of phase (b), and the one at which it answered most. */
export function best<T extends { connections: number; result: LoadResult }>(runs: readonly T[]): T {
  if (runs.length === 0) throw new Error('no runs to choose from');
  return runs.reduce((a, r) => (r.result.perSecond > a.result.perSecond ? r : a));
}
