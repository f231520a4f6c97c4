import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCOPES } from '../core/tokens/scopes.js';
import { apiFixture } from '../testing/api.js';
import { API_ROUTES } from './routes.js';

interface Row {
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

test('every 401 and 403 is in the audit trail with who, what and why — the token’s id where it matched, never its secret — while the refused change leaves nothing else', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'request,approve,read');
    const revoked = await f.app.createToken({
      identity: 'bob@acme.test',
      scopes: 'read',
      actor: 'test',
      via: 'cli',
    });
    await f.app.revokeToken(revoked.id, 'test', 'cli');
    const id = (
      await f.call('POST', '/api/v1/requests', alice, {
        entitlement: 'analytics:writer',
        beneficiary: 'alice@acme.test',
        reason: 'model work',
      })
    ).json().id as string;
    const before = await f.store.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM approvals',
    );

    const guess = `gh_0123456789abcdef_${'x'.repeat(43)}`;
    const calls = [
      await f.call('GET', '/api/v1/me'),
      await f.call('GET', '/api/v1/me', guess),
      await f.call('GET', '/api/v1/grants', revoked.token),
      await f.call('GET', '/api/v1/report', alice),
      await f.call('POST', `/api/v1/requests/${id}/approve`, alice, { comment: 'me' }),
    ];
    assert.deepEqual(
      calls.map((c) => c.statusCode),
      [401, 401, 401, 403, 403],
    );
    const rows = await f.store.sql.query<Row>(
      `SELECT actor, action, subject, details FROM audit_events
        WHERE action IN ('access.refused', 'access.unauthenticated') ORDER BY seq`,
    );
    const aliceToken = `tok_${alice.split('_')[1]}`;
    assert.deepEqual(
      rows.map((r) => [r.actor, r.action, r.subject, r.details.code, r.details.operation]),
      [
        [
          'unauthenticated',
          'access.unauthenticated',
          'GET /api/v1/me',
          'missing_token',
          'GET /api/v1/me',
        ],
        [
          'unauthenticated',
          'access.unauthenticated',
          'GET /api/v1/me',
          'invalid_token',
          'GET /api/v1/me',
        ],
        [
          'bob@acme.test',
          'access.unauthenticated',
          revoked.id,
          'token_revoked',
          'GET /api/v1/grants',
        ],
        [
          'alice@acme.test',
          'access.refused',
          aliceToken,
          'insufficient_scope',
          'GET /api/v1/report',
        ],
        [
          'alice@acme.test',
          'access.refused',
          id,
          'self_approval',
          'POST /api/v1/requests/:id/approve',
        ],
      ],
    );
    assert.equal(rows[2]!.details.token, revoked.id);
    assert.equal(rows[4]!.details.token, aliceToken);
    assert.ok(rows.every((r) => r.details.via === 'api' && typeof r.details.address === 'string'));
    const all = JSON.stringify(await f.store.sql.query('SELECT * FROM audit_events'));
    // The secret is what follows `gh_<id>_`; it may itself hold underscores.
    for (const secret of [alice, revoked.token, guess, alice.split('_').slice(2).join('_')])
      assert.ok(!all.includes(secret), 'no secret in the audit trail');
    const after = await f.store.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM approvals',
    );
    assert.deepEqual(after, before, 'the refused approval wrote nothing');
    const trace = await f.call(
      'GET',
      `/api/v1/audit/trace/${id}`,
      await f.token('rita@acme.test', 'audit'),
    );
    assert.ok(
      trace.json().events.some((e: { action: string }) => e.action === 'access.refused'),
      'the request’s trace shows the refused attempt',
    );
    const verify = await f.app.auditVerify();
    assert.equal(verify.ok, true);
  } finally {
    await f.close();
  }
});

test('every route of issue 8’s second part refuses an expired or revoked token holding every scope with a 401, and a token without its scope with a 403', async () => {
  const f = await apiFixture();
  try {
    const all = SCOPES.join(',');
    const expired = await f.token('gina@acme.test', all, 60);
    const revoked = await f.app.createToken({
      identity: 'gina@acme.test',
      scopes: all,
      actor: 'test',
      via: 'cli',
    });
    await f.app.revokeToken(revoked.id, 'test', 'cli');
    const metricsOnly = await f.token('gina@acme.test', 'metrics');
    f.clock.advance(61);
    const routes = API_ROUTES.filter((r) =>
      ['catalog', 'cancel', 'identities', 'export', 'tokens'].some((w) => r.url.includes(w)),
    );
    assert.equal(routes.length, 8);
    for (const r of routes) {
      const url = r.url.replace(':id', 'x_1');
      const body = r.method === 'POST' ? {} : undefined;
      for (const [token, status, code] of [
        [expired, 401, 'token_expired'],
        [revoked.token, 401, 'token_revoked'],
        [metricsOnly, 403, 'insufficient_scope'],
      ] as const) {
        const res = await f.call(r.method, url, token, body);
        assert.equal(res.statusCode, status, `${r.method} ${r.url}`);
        assert.equal(res.json().error.code, code, `${r.method} ${r.url}`);
      }
    }
  } finally {
    await f.close();
  }
});
