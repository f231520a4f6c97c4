import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatehouse } from '../app/gatehouse.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { migrationFiles } from '../store/migrate.js';
import { apiFixture } from '../testing/api.js';
import { buildServer } from './server.js';
import { allowList } from './hardening.js';
import * as shapes from './shapes.js';

test('the API limits calls per token and per address: past the limit a 429 in the API.md error shape with Retry-After, before the token is even checked', async () => {
  const f = await apiFixture({
    rateLimits: { apiPerToken: 3, apiPerAddress: 10, windowMs: 60_000 },
  });
  try {
    const alice = await f.token('alice@acme.test', 'read');
    const bob = await f.token('bob@acme.test', 'read');
    // Someone who knows the id of Alice's token cannot spend her allowance with a forged secret.
    const forged = `${alice.slice(0, alice.lastIndexOf('_'))}_${'A'.repeat(43)}`;
    for (let i = 0; i < 3; i++)
      assert.equal((await f.call('GET', '/api/v1/me', forged)).statusCode, 401);
    for (let i = 0; i < 3; i++)
      assert.equal((await f.call('GET', '/api/v1/me', alice)).statusCode, 200);
    const limited = await f.call('GET', '/api/v1/me', alice);
    assert.equal(limited.statusCode, 429);
    const body = shapes.errorObject.parse(limited.json());
    assert.equal(body.error.code, 'rate_limited');
    const after = Number(limited.headers['retry-after']);
    assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);

    // Another token from the same address has its own allowance, until the address runs out.
    for (let i = 0; i < 3; i++)
      assert.equal((await f.call('GET', '/api/v1/me', bob)).statusCode, 200);
    const guess = `gh_0123456789abcdef_${'x'.repeat(43)}`;
    const guessing = await f.call('GET', '/api/v1/me', guess);
    assert.equal(guessing.statusCode, 429, 'ten calls from one address: a guess is not looked up');
    const [unauth] = await f.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'access.unauthenticated'`,
    );
    assert.equal(unauth!.n, 3, 'only the forged calls that got through were audited');
    // Health and the OpenAPI document are not limited.
    assert.equal((await f.call('GET', '/healthz')).statusCode, 200);
    assert.equal((await f.call('GET', '/api/openapi.json')).statusCode, 200);
  } finally {
    await f.close();
  }
});

test('sign-in attempts (/auth/…) and webhooks (/hooks/…) are limited per address, whoever serves them, and reading the sign-in methods is not an attempt', async () => {
  const f = await apiFixture({ rateLimits: { authPerAddress: 2, hooksPerAddress: 3 } });
  try {
    const statuses = async (url: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await f.call('POST', url, undefined, {})).statusCode);
      return out;
    };
    // No sign-in or hook routes are registered here: the limit stands in front of the 404.
    assert.deepEqual(await statuses('/auth/login', 3), [404, 404, 429]);
    assert.deepEqual(await statuses('/hooks/jira', 4), [404, 404, 404, 429]);
    const r = await f.call('GET', '/auth/callback?code=x');
    assert.equal(r.statusCode, 429);
    // What a page load reads to offer sign-in is not an attempt: it stays answerable.
    assert.equal((await f.call('GET', '/auth/methods')).statusCode, 200);
    assert.ok(r.headers['retry-after']);
    shapes.errorObject.parse(r.json());
  } finally {
    await f.close();
  }
});

test('every answer carries the security headers: a strict content security policy, no framing, no sniffing, no caching', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'read');
    for (const [url, token] of [
      ['/api/v1/me', alice],
      ['/api/v1/me', undefined],
      ['/healthz', undefined],
      ['/nope', undefined],
    ] as const) {
      const r = await f.call('GET', url, token);
      const h = r.headers;
      assert.match(String(h['content-security-policy']), /default-src 'none'/, url);
      assert.match(String(h['content-security-policy']), /frame-ancestors 'none'/, url);
      assert.equal(h['x-content-type-options'], 'nosniff', url);
      assert.equal(h['x-frame-options'], 'SAMEORIGIN', url);
      assert.equal(h['cache-control'], 'no-store', url);
      assert.ok(h['strict-transport-security'], url);
      assert.equal(h['x-powered-by'], undefined, url);
    }
  } finally {
    await f.close();
  }
});

test('the Bearer scheme is accepted in any case, and a 500 carries only the request id', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'read');
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      assert.equal(
        (
          await f.call('GET', '/api/v1/me', undefined, undefined, {
            authorization: `${scheme} ${alice}`,
          })
        ).statusCode,
        200,
        scheme,
      );
  } finally {
    await f.close();
  }
});

test('/metrics answers an allow-listed address without a token and any other address only with the metrics scope', async () => {
  const open = await apiFixture({ metricsAllow: ['127.0.0.0/8', '::1'] });
  const closed = await apiFixture({ metricsAllow: ['10.0.0.0/8'] });
  try {
    const fromLoopback = await open.call('GET', '/metrics');
    assert.equal(fromLoopback.statusCode, 200, 'inject calls come from 127.0.0.1');
    assert.match(fromLoopback.body, /gatehouse_/);
    const elsewhere = await closed.call('GET', '/metrics');
    assert.equal(elsewhere.statusCode, 401);
    const scoped = await closed.call(
      'GET',
      '/metrics',
      await closed.token('gina@acme.test', 'metrics'),
    );
    assert.equal(scoped.statusCode, 200);
  } finally {
    await open.close();
    await closed.close();
  }
  assert.ok(allowList(['::ffff:0:0/96', '192.0.2.7'])?.check('192.0.2.7'));
  assert.throws(() => allowList(['10.0.0.0/33']), { code: 'invalid_metrics_allow' });
  assert.throws(() => allowList(['example.com']), { code: 'invalid_metrics_allow' });
});

test('two servers on one store share each limit: the calls one node counted count on the other, and the 429 carries Retry-After', async () => {
  const f = await apiFixture({
    rateLimits: { apiPerToken: 4, apiPerAddress: 100, windowMs: 60_000 },
  });
  // A second node: its own use cases and its own Fastify instance, on the same database.
  const other = await buildServer(
    gatehouse({
      sql: f.store.sql,
      clock: f.clock,
      catalog: new CatalogCache(),
      connectors: connectorSource([], { env: {}, dataDir: '/nonexistent' }),
      workerId: 'api-test-2',
    }),
    {
      schemaVersion: migrationFiles().at(-1)!.version,
      rateLimits: { apiPerToken: 4, apiPerAddress: 100, windowMs: 60_000 },
    },
  );
  try {
    const alice = await f.token('alice@acme.test', 'read');
    const onOther = () =>
      other.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { authorization: `Bearer ${alice}` },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await f.call('GET', '/api/v1/me', alice)).statusCode);
      statuses.push((await onOther()).statusCode);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const limited = await onOther();
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.headers['retry-after'], '60', 'the clock stands at the window’s start');
    assert.equal(shapes.errorObject.parse(limited.json()).error.code, 'rate_limited');

    // The next window starts afresh on both nodes, and the rows of the ended one are deleted.
    f.clock.advance(60);
    assert.equal((await onOther()).statusCode, 200);
    assert.equal((await f.call('GET', '/api/v1/me', alice)).statusCode, 200);
    const rows = await f.store.sql.query<{ window_start: Date }>(
      'SELECT window_start FROM rate_windows',
    );
    assert.ok(rows.length > 0);
    for (const r of rows)
      assert.equal(new Date(r.window_start).toISOString(), '2026-05-01T09:01:00.000Z');
  } finally {
    await other.close();
    await f.close();
  }
});
