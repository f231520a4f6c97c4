import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadResult } from './api-load.js';
import { best, combined } from './api-slices.js';

const slice = (ok: number, seconds: number, p: number, cpu: number): LoadResult => ({
  sent: ok + 1,
  ok,
  non2xx: 1,
  errors: 0,
  timeouts: 0,
  seconds,
  perSecond: ok / seconds,
  p50: p,
  p90: 2 * p,
  p99: 4 * p,
  max: 8 * p,
  next: ok,
  statuses: { '201': ok, '429': 1 },
  loadCpuMs: 10,
  gc: { pauses: 2, max_ms: p, major: 1, major_max_ms: p },
  cpuMsPerCall: { gatehouse_ms: cpu, server_ms: cpu, load_ms: null },
});

test('slices taken together answer every 2xx over every second, the median of their middles and the worst of their tails', () => {
  const r = combined([slice(1000, 5, 10, 1), slice(3000, 5, 20, 2), slice(2000, 5, 30, 3)]);
  assert.equal(r.ok, 6000);
  assert.equal(r.seconds, 15);
  assert.equal(r.perSecond, 400);
  assert.equal(r.p50, 20);
  assert.equal(r.p90, 40);
  assert.equal(r.p99, 120, 'no tail is hidden by the merge');
  assert.equal(r.max, 240);
  assert.deepEqual(r.statuses, { '201': 6000, '429': 3 });
  assert.equal(r.non2xx, 3);
  assert.equal(r.loadCpuMs, 30);
  assert.deepEqual(r.gc, { pauses: 6, max_ms: 30, major: 3, major_max_ms: 30 });
  // Weighted by the calls each slice answered: (1000·1 + 3000·2 + 2000·3) / 6000.
  assert.equal(r.cpuMsPerCall?.gatehouse_ms, 2.167);
  assert.equal(r.cpuMsPerCall?.load_ms, null, 'unknown in one slice is unknown in all');
});

test('a route’s rate is that of the concurrency where it answered most', () => {
  const runs = [
    { connections: 16, result: slice(900, 10, 5, 1) },
    { connections: 64, result: slice(1100, 10, 9, 1) },
  ];
  assert.equal(best(runs).connections, 64);
  assert.throws(() => best([]), /no runs/);
  assert.throws(() => combined([]), /no slices/);
});
