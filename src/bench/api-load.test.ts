import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { runLoad, tailOf } from './api-load.js';

/**
 * A server that notes when each call (a POST) arrived and answers after `delayMs` (the first call
 * only). The sender's warm-up GETs are answered at once and not noted.
 */
async function slowFirst(delayMs: number) {
  const arrivals: number[] = [];
  let warmed = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      warmed++;
      return void res.writeHead(404).end();
    }
    arrivals.push(performance.now());
    req.resume();
    req.once('end', () => {
      const answer = () => res.writeHead(201).end('{}');
      if (arrivals.length === 1) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    warmed: () => warmed,
    close: () => server.close(),
  };
}

const job = { path: '/x', token: 't', first: 0, people: 100, entitlements: ['a:b'] };

test('a paced load sends one call every 1/rate seconds, never a second quota at once', async () => {
  const s = await slowFirst(0);
  try {
    const t0 = performance.now();
    const r = await runLoad({ ...job, url: s.url, connections: 4, rate: 50, amount: 20 });
    assert.equal(r.ok, 20);
    assert.equal(r.next, 20);
    assert.ok(s.warmed() > 0, 'the sender warmed its sockets before the clock started');
    // No call goes out before it is due: the sender starts 50 ms after it is called and call k
    // is due 20k ms after that, so the k-th arrival cannot come sooner. Measured from the call,
    // not from the first arrival, whose connection set-up can make it late and the span short
    // (CI, 2026-12-06: 375.0 ms); a timer firing a millisecond early once sent calls early.
    const sorted = [...s.arrivals].sort((a, b) => a - b);
    for (const [k, arrived] of sorted.entries()) {
      const due = t0 + 50 + k * 20;
      assert.ok(arrived >= due, `call ${k} arrived ${(due - arrived).toFixed(1)} ms early`);
    }
  } finally {
    s.close();
  }
});

test('a paced call that waits for a busy connection has the wait counted in its latency', async () => {
  const s = await slowFirst(300);
  try {
    // One connection: the calls due while the first is held wait for it, and their latency runs
    // from when they were due, so the slowest is at least the held call's 300 ms.
    const r = await runLoad({ ...job, url: s.url, connections: 1, rate: 50, amount: 10 });
    assert.equal(r.ok, 10);
    assert.ok(r.max >= 300, `max ${r.max} ms`);
    assert.ok(r.p50 >= 100, `p50 ${r.p50} ms: the calls queued behind the first count their wait`);
  } finally {
    s.close();
  }
});

test('the tail of a paced load counts its slow calls in stalls of calls due close together', () => {
  const calls = [
    ...Array.from({ length: 100 }, (_, k) => ({ due: k * 5, ms: 4 })),
    // One stall of three calls due 5 ms apart, and one slow call alone 1 s later.
    { due: 200, ms: 80 },
    { due: 205, ms: 75 },
    { due: 210, ms: 70 },
    { due: 1210, ms: 40 },
  ];
  assert.deepEqual(tailOf(calls, 10), {
    above_ms: 10,
    calls: 4,
    stalls: 2,
    largest: { calls: 3, at_ms: 200 },
  });
  assert.deepEqual(tailOf(calls, 100), {
    above_ms: 100,
    calls: 0,
    stalls: 0,
    largest: { calls: 0, at_ms: 0 },
  });
});
