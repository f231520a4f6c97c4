import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';

test('POST /api/v1/grants/{id}/credential calls the one use case: a grant of an entitlement that issues none is a 400 naming the grant, an unknown grant a 404, and a token without the request scope a 403', async () => {
  const f = await apiFixture();
  try {
    await f.store.sql.query(
      `INSERT INTO grants (id, identity, entitlement, app, owner, trigger, state, duration, created_at,
         granted_at, expires_at, verified_at)
       VALUES ('grt_svc', 'svc:ci-deployer', 'analytics:reader', 'analytics', 'alice@acme.test',
         'request', 'active', 86400, $1, $1, $1::timestamptz + interval '1 day', $1)`,
      [f.clock.now()],
    );
    const alice = await f.token('alice@acme.test', 'request');
    const none = await f.call('POST', '/api/v1/grants/grt_svc/credential', alice, {});
    assert.equal(none.statusCode, 400, none.body);
    assert.equal(none.json().error.code, 'credential_not_configured');
    assert.equal(none.json().error.field, 'grant');

    const unknown = await f.call('POST', '/api/v1/grants/grt_nope/credential', alice, {});
    assert.equal(unknown.statusCode, 404, unknown.body);

    const reader = await f.token('alice@acme.test', 'read');
    const scoped = await f.call('POST', '/api/v1/grants/grt_svc/credential', reader, {});
    assert.equal(scoped.statusCode, 403, scoped.body);
    const [n] = await f.store.sql.query<{ n: string | number }>(
      'SELECT count(*) AS n FROM credentials',
    );
    assert.equal(Number(n?.n), 0, 'nothing was issued');
  } finally {
    await f.close();
  }
});
