import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../store/test-store.js';
import { measureApi, measureCliChannel } from './api-run.js';

test('the API benchmark runs end to end at a small size: every call answered 2xx and written with its audit events and job', async () => {
  const store = await testStore();
  try {
    const r = await measureApi(store.sql, {
      rate: 20,
      rateSeconds: 1,
      maxSeconds: 1,
      concurrency: [1, 2],
      slices: 2,
      warmup: 5,
      people: 3000, // enough distinct pairs for whatever a quiet machine sends in the max phase
      sequential: 5,
      cliRuns: 0,
    });
    const maxes = r.maxRuns.flatMap((m) => [m.api, m.bare]);
    assert.equal(maxes.length, 4, 'each route at each concurrency');
    for (const x of [r.fixedRate.api, r.fixedRate.bare, ...maxes]) {
      assert.equal(x.non2xx + x.errors + x.timeouts, 0, JSON.stringify(x.statuses));
      assert.ok(x.ok > 0);
    }
    assert.equal(r.core.sequential.length, 5);
    assert.equal(r.core.httpSequential.ok, 5);
    const maxApi = r.maxRuns.reduce((a, m) => a + m.api.ok, 0);
    const viaHttp = 5 + r.fixedRate.api.ok + maxApi + r.core.httpSequential.ok;
    assert.ok(r.written.requests >= viaHttp, 'every 2xx left its request');
    assert.equal(r.written.autoApproved, r.written.requests, 'none stopped before the grant');
    assert.equal(r.written.jobs, r.written.requests, 'each has its apply job');
    assert.ok(r.written.auditEvents >= 2 * r.written.requests);
  } finally {
    await store.close();
  }
});

test('the CLI channel measurement sends a command to a running serve and times it beside node -e 0', async () => {
  const r = await measureCliChannel(1);
  assert.equal(r.channel.length, 1);
  assert.equal(r.nodeNoop.length, 1);
});
