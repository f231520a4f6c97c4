import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { runLoad } from './api-load.js';

/** A server that notes when each call arrived and answers after `delayMs` (the first call only). */
async function slowFirst(delayMs: number) {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
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
  return { url: `http://127.0.0.1:${port}`, arrivals, close: () => server.close() };
}

const job = { path: '/x', token: 't', first: 0, people: 100, entitlements: ['a:b'] };

test('a paced load sends one call every 1/rate seconds, never a second quota at once', async () => {
  const s = await slowFirst(0);
  try {
    const r = await runLoad({ ...job, url: s.url, connections: 4, rate: 50, amount: 20 });
    assert.equal(r.ok, 20);
    assert.equal(r.next, 20);
    // No call goes out before it is due: twenty calls at 50/s span at least 19 intervals of 20 ms.
    const span = s.arrivals.at(-1)! - s.arrivals[0]!;
    assert.ok(span >= 19 * 20 - 5, `arrivals spanned ${span.toFixed(1)} ms`);
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
