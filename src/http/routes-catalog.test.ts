import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import * as shapes from './shapes.js';

test('GET /api/v1/catalog lists every application with its entitlements, risk, limits and licence seats in use, for any acting token but not a metrics one', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'request');
    const metrics = await f.token('gina@acme.test', 'metrics');
    const res = await f.call('GET', '/api/v1/catalog', alice);
    assert.equal(res.statusCode, 200, res.body);
    const cat = shapes.catalog.parse(res.json());
    const ids = cat.apps.map((a) => a.id);
    assert.deepEqual(ids, [...ids].sort(), 'in id order');
    const github = cat.apps.find((a) => a.id === 'github');
    assert.ok(github, 'the demo’s github app');
    assert.ok(github.entitlements.some((e) => e.id === 'github:write'));
    assert.ok(github.licences.length > 0, 'github has a licence pool');
    for (const l of github.licences) assert.ok(l.used >= 0 && l.used <= l.seats);
    assert.ok(
      cat.apps.every((a) => a.entitlements.every((e) => !('target' in e))),
      'how access is carried out is not shown',
    );
    for (const [token, status] of [
      [metrics, 403],
      [undefined, 401],
    ] as const) {
      const r = await f.call('GET', '/api/v1/catalog', token);
      assert.equal(r.statusCode, status);
      shapes.errorObject.parse(r.json());
    }
  } finally {
    await f.close();
  }
});
