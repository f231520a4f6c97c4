import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import * as shapes from './shapes.js';

test('an admin token makes, lists and revokes tokens over the API: the secret is in the 201 answer only, the new token acts at once and is refused once revoked', async () => {
  const f = await apiFixture();
  try {
    const admin = await f.token('gina@acme.test', 'admin,read,request');
    const made = await f.call('POST', '/api/v1/tokens', admin, {
      identity: 'svc:ci-deployer',
      scopes: ['read', 'request'],
      expires: '30d',
    });
    assert.equal(made.statusCode, 201, made.body);
    const t = shapes.createdToken.parse(made.json());
    assert.equal(t.identity, 'svc:ci-deployer');
    assert.equal(t.expires_at, new Date(f.clock.now().getTime() + 30 * 86400_000).toISOString());

    const me = await f.call('GET', '/api/v1/me', t.token);
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().identity, 'svc:ci-deployer');

    const list = await f.call('GET', '/api/v1/tokens?limit=1000', admin);
    assert.equal(list.statusCode, 200);
    const page = shapes.tokenPage.parse(list.json());
    const listed = page.tokens.find((x) => x.id === t.id);
    assert.equal(listed?.created_by, 'gina@acme.test');
    assert.ok(
      !list.body.includes(t.token.split('_').slice(2).join('_')),
      'a list never holds a secret',
    );

    const [created] = await f.store.sql.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_events WHERE action = 'token.created' AND subject = $1`,
      [t.id],
    );
    assert.equal(created!.details.via, 'api');
    assert.ok(!JSON.stringify(created).includes(t.token), 'the audit holds no secret');

    const revoked = await f.call('POST', `/api/v1/tokens/${t.id}/revoke`, admin, {});
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.ok(shapes.tokenObject.parse(revoked.json()).revoked_at);
    const after = await f.call('GET', '/api/v1/me', t.token);
    assert.equal(after.statusCode, 401);
    assert.equal(after.json().error.code, 'token_revoked');
    const twice = await f.call('POST', `/api/v1/tokens/${t.id}/revoke`, admin, {});
    assert.equal(twice.statusCode, 409);
    assert.equal(twice.json().error.code, 'token_already_revoked');
    const unknown = await f.call('POST', '/api/v1/tokens/tok_0000000000000000/revoke', admin, {});
    assert.equal(unknown.statusCode, 404);
  } finally {
    await f.close();
  }
});

test('token management needs the admin scope, a token made over the API carries no scope its maker lacks, and expired or revoked admin tokens are refused', async () => {
  const f = await apiFixture();
  try {
    const admin = await f.token('gina@acme.test', 'admin');
    const reader = await f.token('gina@acme.test', 'read,audit');
    const shortLived = await f.token('gina@acme.test', 'admin', 60);
    const body = { identity: 'bob@acme.test', scopes: ['read'] };

    for (const [method, url, b] of [
      ['POST', '/api/v1/tokens', body],
      ['GET', '/api/v1/tokens', undefined],
      ['POST', '/api/v1/tokens/tok_0000000000000000/revoke', {}],
    ] as const) {
      const r = await f.call(method, url, reader, b);
      assert.equal(r.statusCode, 403, `${method} ${url}`);
      assert.equal(r.json().error.code, 'insufficient_scope');
    }
    const escalate = await f.call('POST', '/api/v1/tokens', admin, {
      identity: 'gina@acme.test',
      scopes: ['admin', 'audit'],
    });
    assert.equal(escalate.statusCode, 403);
    assert.equal(escalate.json().error.code, 'scope_escalation');
    assert.equal(escalate.json().error.field, 'scopes');
    const badScope = await f.call('POST', '/api/v1/tokens', admin, {
      identity: 'bob@acme.test',
      scopes: ['root'],
    });
    assert.equal(badScope.statusCode, 400);
    assert.equal(badScope.json().error.field, 'scopes.0');
    const tooLong = await f.call('POST', '/api/v1/tokens', admin, {
      identity: 'gina@acme.test',
      scopes: ['admin'],
      expires: '400d',
    });
    assert.equal(tooLong.statusCode, 400);
    assert.equal(tooLong.json().error.field, 'expires');

    f.clock.advance(61);
    const expired = await f.call('GET', '/api/v1/tokens', shortLived);
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().error.code, 'token_expired');
    const [n] = await f.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM api_tokens WHERE created_by <> 'test'`,
    );
    assert.equal(n!.n, 0, 'no refused call made a token');
  } finally {
    await f.close();
  }
});
