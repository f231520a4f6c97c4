import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gatehouse } from '../app/gatehouse.js';
import { apiFixture } from '../testing/api.js';
import { buildServer } from './server.js';
import * as shapes from './shapes.js';

const REASON = 'quarterly close work';
const ask = (entitlement: string, beneficiary = 'alice@acme.test') => ({
  entitlement,
  beneficiary,
  reason: REASON,
});

test('a request made, seen, approved and rejected through the API acts as the token’s identity, and approvals through the API satisfy approval.authenticated_only', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'request,read');
    const carol = await f.token('carol@acme.test', 'approve,read');

    const made = await f.call('POST', '/api/v1/requests', alice, ask('analytics:writer'));
    assert.equal(made.statusCode, 201, made.body);
    const req = shapes.requestObject.parse(made.json());
    assert.equal(req.requester, 'alice@acme.test');
    assert.equal(req.status, 'pending_approval');
    const [submitted] = await f.store.sql.query<{ details: { via: string } }>(
      `SELECT details FROM audit_events WHERE action = 'request.submitted' AND subject = $1`,
      [req.id],
    );
    assert.equal(submitted!.details.via, 'api');

    const seen = await f.call('GET', `/api/v1/requests/${req.id}`, alice);
    assert.equal(seen.statusCode, 200);
    assert.equal(shapes.requestObject.parse(seen.json()).id, req.id);

    const me = await f.call('GET', '/api/v1/me', carol);
    assert.equal(me.statusCode, 200);
    const mine = shapes.me.parse(me.json());
    assert.equal(mine.identity, 'carol@acme.test');
    assert.deepEqual(mine.waiting.requests, [req.id]);

    const approved = await f.call('POST', `/api/v1/requests/${req.id}/approve`, carol, {
      comment: 'ok for the close',
    });
    assert.equal(approved.statusCode, 200, approved.body);
    const after = shapes.requestObject.parse(approved.json());
    assert.equal(after.status, 'approved');
    assert.ok(after.grant, 'the approval made the grant');

    const again = await f.call('POST', `/api/v1/requests/${req.id}/approve`, carol, {});
    assert.equal(again.statusCode, 409, 'approving a decided stage twice is a conflict');
    assert.equal(again.json().error.code, 'not_pending');

    const other = await f.call('POST', '/api/v1/requests', alice, ask('github:write'));
    const otherId = other.json().id as string;
    const noComment = await f.call('POST', `/api/v1/requests/${otherId}/reject`, carol, {});
    assert.equal(noComment.statusCode, 400);
    assert.equal(noComment.json().error.field, 'comment');
    const rejected = await f.call('POST', `/api/v1/requests/${otherId}/reject`, carol, {
      comment: 'not this quarter',
    });
    assert.equal(rejected.statusCode, 200, rejected.body);
    assert.equal(rejected.json().status, 'rejected');

    const explained = await f.call('POST', '/api/v1/explain', alice, ask('erp:vendor-create'));
    assert.equal(explained.statusCode, 200, explained.body);
    const dry = shapes.requestObject.parse(explained.json());
    assert.equal(dry.dry_run, true);
    assert.equal(dry.id, null);
    const [n] = await f.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM requests WHERE entitlement = 'erp:vendor-create'`,
    );
    assert.equal(n!.n, 0, 'explain writes nothing');
    assert.deepEqual(f.internalErrors, []);
  } finally {
    await f.close();
  }
});

test('nobody approves their own request through the API, nor acts on or sees another person’s request or grant', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'request,approve,read');
    const dan = await f.token('dan@acme.test', 'request,approve,read');
    const carol = await f.token('carol@acme.test', 'approve,read');
    const id = (await f.call('POST', '/api/v1/requests', alice, ask('analytics:writer'))).json()
      .id as string;

    const self = await f.call('POST', `/api/v1/requests/${id}/approve`, alice, {});
    assert.equal(self.statusCode, 403);
    assert.equal(self.json().error.code, 'self_approval');
    const stranger = await f.call('POST', `/api/v1/requests/${id}/approve`, dan, {});
    assert.equal(stranger.statusCode, 403);
    assert.equal(stranger.json().error.code, 'not_stage_approver');
    const peek = await f.call('GET', `/api/v1/requests/${id}`, dan);
    assert.equal(peek.statusCode, 403);
    assert.equal(peek.json().error.code, 'request_not_visible');
    const list = await f.call('GET', '/api/v1/requests', dan);
    assert.equal(list.statusCode, 200);
    assert.ok(
      list
        .json()
        .requests.every(
          (r: { requester: string; beneficiary: string }) =>
            r.requester === 'dan@acme.test' || r.beneficiary === 'dan@acme.test',
        ),
      'a list shows dan only what dan may see',
    );
    const listed = await f.call('GET', '/api/v1/requests?status=pending_approval', carol);
    assert.deepEqual(
      listed.json().requests.map((r: { id: string }) => r.id),
      [id],
      'the approver sees what waits on her',
    );

    const grant = (await f.call('POST', `/api/v1/requests/${id}/approve`, carol, {})).json().grant
      .id as string;
    const seen = await f.call('GET', `/api/v1/grants/${grant}`, alice);
    assert.equal(seen.statusCode, 200);
    shapes.grantObject.parse(seen.json());
    const hidden = await f.call('GET', `/api/v1/grants/${grant}`, dan);
    assert.equal(hidden.statusCode, 403);
    assert.equal(hidden.json().error.code, 'grant_not_visible');
    const danGrants = await f.call('GET', '/api/v1/grants', dan);
    assert.ok(
      danGrants.json().grants.every((g: { identity: string }) => g.identity === 'dan@acme.test'),
    );
    const revokeOther = await f.call('POST', `/api/v1/grants/${grant}/revoke`, dan, {
      reason: 'not mine to keep',
    });
    assert.equal(revokeOther.statusCode, 403);
    assert.equal(revokeOther.json().error.code, 'revoke_not_allowed');
    const retryOther = await f.call('POST', `/api/v1/grants/${grant}/retry`, dan, {});
    assert.equal(retryOther.statusCode, 403);
    assert.equal(retryOther.json().error.code, 'retry_not_allowed');
    const retryOwn = await f.call('POST', `/api/v1/grants/${grant}/retry`, alice, {});
    assert.equal(retryOwn.statusCode, 409, 'only a failed grant is provisioned again');

    const revoked = await f.call('POST', `/api/v1/grants/${grant}/revoke`, alice, {
      reason: 'done with it',
    });
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal(shapes.grantObject.parse(revoked.json()).state, 'revoking');
    const unknown = await f.call('GET', '/api/v1/grants/grt_0000000000000000', alice);
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.code, 'not_found');
  } finally {
    await f.close();
  }
});

test('a missing, unknown, expired or revoked token is a 401 and a token without the route’s scope a 403, in the API.md error shape', async () => {
  const f = await apiFixture();
  try {
    const auditor = await f.token('gina@acme.test', 'audit');
    const reader = await f.token('gina@acme.test', 'read');
    const shortLived = await f.token('gina@acme.test', 'audit', 60);
    const revoked = await f.app.createToken({
      identity: 'gina@acme.test',
      scopes: 'audit',
      actor: 'test',
      via: 'cli',
    });
    await f.app.revokeToken(revoked.id, 'test', 'cli');

    const ok = await f.call('GET', '/api/v1/audit/verify', auditor);
    assert.equal(ok.statusCode, 200);
    assert.equal(shapes.auditVerify.parse(ok.json()).ok, true);
    const lower = await f.call('GET', '/api/v1/report', undefined, undefined, {
      authorization: `bearer ${auditor}`,
    });
    assert.equal(lower.statusCode, 200, 'the scheme is case-insensitive');
    shapes.report.parse(lower.json());

    f.clock.advance(61);
    const cases: [string, Record<string, string>, number, string][] = [
      ['missing', {}, 401, 'missing_token'],
      ['not bearer', { authorization: `Basic ${auditor}` }, 401, 'missing_token'],
      [
        'unknown',
        { authorization: `Bearer gh_0123456789abcdef_${'x'.repeat(43)}` },
        401,
        'invalid_token',
      ],
      ['garbage', { authorization: 'Bearer ../../etc/passwd' }, 401, 'invalid_token'],
      [
        'tampered',
        { authorization: `Bearer ${auditor.slice(0, -1)}${auditor.endsWith('A') ? 'B' : 'A'}` },
        401,
        'invalid_token',
      ],
      ['expired', { authorization: `Bearer ${shortLived}` }, 401, 'token_expired'],
      ['revoked', { authorization: `Bearer ${revoked.token}` }, 401, 'token_revoked'],
      ['wrong scope', { authorization: `Bearer ${reader}` }, 403, 'insufficient_scope'],
    ];
    for (const [name, headers, status, code] of cases) {
      const r = await f.call('GET', '/api/v1/audit/verify', undefined, undefined, headers);
      assert.equal(r.statusCode, status, name);
      const body = shapes.errorObject.parse(r.json());
      assert.equal(body.error.code, code, name);
      assert.ok(body.request_id.length > 0);
    }
    const trace = await f.call('GET', `/api/v1/audit/trace/${revoked.id}`, auditor);
    assert.equal(trace.statusCode, 200);
    assert.deepEqual(
      shapes.auditTrace.parse(trace.json()).events.map((e) => e.action),
      ['token.created', 'token.revoked', 'access.unauthenticated'],
      'the trace of a token shows its use after it was revoked',
    );
    const [used] = await f.store.sql.query<{ last_used_at: Date | null }>(
      'SELECT last_used_at FROM api_tokens WHERE id = $1',
      [`tok_${auditor.split('_')[1]}`],
    );
    assert.ok(used!.last_used_at, 'a use is recorded');
  } finally {
    await f.close();
  }
});

test('unknown fields, wrong types, malformed JSON and an oversized body are 4xx naming the problem; a failure inside is a 500 with only a request id', async () => {
  const f = await apiFixture({ bodyLimit: 4096 });
  try {
    const alice = await f.token('alice@acme.test', 'request,read');
    const post = (body: unknown, headers?: Record<string, string>) =>
      f.call('POST', '/api/v1/requests', alice, body, headers);

    const extra = await post({ ...ask('wiki:edit'), reasn: 'typo' });
    assert.equal(extra.statusCode, 400);
    assert.deepEqual(
      [extra.json().error.code, extra.json().error.field],
      ['unknown_field', 'reasn'],
    );
    const wrongType = await post({ ...ask('wiki:edit'), emergency: 'yes' });
    assert.equal(wrongType.statusCode, 400);
    assert.equal(wrongType.json().error.field, 'emergency');
    const badDuration = await post({ ...ask('wiki:edit'), duration: 'forever' });
    assert.equal(badDuration.statusCode, 400);
    assert.equal(badDuration.json().error.field, 'duration');
    const malformed = await post('{"entitlement": ', { 'content-type': 'application/json' });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().error.code, 'invalid_body');
    const huge = await post({ ...ask('wiki:edit'), reason: 'x'.repeat(5000) });
    assert.equal(huge.statusCode, 413);
    assert.equal(huge.json().error.code, 'body_too_large');
    const query = await f.call('GET', '/api/v1/requests?stauts=approved', alice);
    assert.equal(query.statusCode, 400);
    assert.equal(query.json().error.field, 'stauts');
    const route = await f.call('GET', '/api/v1/nope', alice);
    assert.equal(route.statusCode, 404);
    shapes.errorObject.parse(route.json());

    const broken: Gatehouse = {
      ...f.app,
      report: async () => {
        throw new Error('connection to 10.0.0.7 failed: password authentication for "admin"');
      },
    };
    const causes: unknown[] = [];
    const server = await buildServer(broken, {
      schemaVersion: 0,
      onInternalError: (_id, e) => causes.push(e),
    });
    try {
      const auditor = await f.token('gina@acme.test', 'audit');
      const r = await server.inject({
        method: 'GET',
        url: '/api/v1/report',
        headers: { authorization: `Bearer ${auditor}` },
      });
      assert.equal(r.statusCode, 500);
      const body = shapes.errorObject.parse(r.json());
      assert.equal(body.error.code, 'internal');
      assert.ok(body.error.message.includes(body.request_id));
      assert.ok(!r.body.includes('10.0.0.7') && !r.body.includes('password'), r.body);
      assert.ok(!r.body.includes('at '), 'no stack');
      assert.equal(causes.length, 1, 'the cause goes to the server’s log');
      const ready = await server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503, 'a store behind the build’s schema is not ready');
      assert.equal(ready.json().error.code, 'schema_not_current');
    } finally {
      await server.close();
    }
    const ready = await f.call('GET', '/readyz');
    assert.equal(ready.statusCode, 200);
    assert.equal((await f.call('GET', '/healthz')).statusCode, 200);
  } finally {
    await f.close();
  }
});
