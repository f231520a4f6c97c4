import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import * as shapes from './shapes.js';

const ask = (entitlement: string, beneficiary = 'alice@acme.test') => ({
  entitlement,
  beneficiary,
  reason: 'quarterly close work',
});

test('the requester cancels a pending request through the API: it is closed as cancelled, audited with the comment, and leaves the approver’s queue', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'request,read');
    const carol = await f.token('carol@acme.test', 'approve,read');
    const id = (await f.call('POST', '/api/v1/requests', alice, ask('analytics:writer'))).json()
      .id as string;
    const waiting = await f.call('GET', '/api/v1/me', carol);
    assert.deepEqual(waiting.json().waiting.requests, [id]);

    const cancelled = await f.call('POST', `/api/v1/requests/${id}/cancel`, alice, {
      comment: 'no longer needed',
    });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    const view = shapes.requestObject.parse(cancelled.json());
    assert.equal(view.status, 'cancelled');
    assert.equal(view.grant, null);
    assert.deepEqual(
      view.approval.stages.map((st) => st.state),
      ['cancelled'],
      'no stage is left pending on anyone',
    );

    const [event] = await f.store.sql.query<{ actor: string; details: Record<string, string> }>(
      `SELECT actor, details FROM audit_events WHERE action = 'request.cancelled' AND subject = $1`,
      [id],
    );
    assert.equal(event!.actor, 'alice@acme.test');
    assert.deepEqual(event!.details, { via: 'api', comment: 'no longer needed' });
    assert.deepEqual((await f.call('GET', '/api/v1/me', carol)).json().waiting.requests, []);

    const again = await f.call('POST', `/api/v1/requests/${id}/cancel`, alice, {});
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'not_pending');
    const approve = await f.call('POST', `/api/v1/requests/${id}/approve`, carol, {});
    assert.equal(approve.statusCode, 409, 'a cancelled request can no longer be approved');
    assert.deepEqual(f.internalErrors, []);
  } finally {
    await f.close();
  }
});

test('the beneficiary may cancel a request made for them; an approver, a stranger or a token without the request scope may not, and each refusal is audited', async () => {
  const f = await apiFixture();
  try {
    const carolRequests = await f.token('carol@acme.test', 'request,approve');
    const alice = await f.token('alice@acme.test', 'request,read');
    const dan = await f.token('dan@acme.test', 'request');
    const aliceReader = await f.token('alice@acme.test', 'read,approve');
    // Carol (the manager) asks for access for Alice; Alice declines it.
    const made = await f.call(
      'POST',
      '/api/v1/requests',
      carolRequests,
      ask('analytics:writer', 'alice@acme.test'),
    );
    assert.equal(made.statusCode, 201, made.body);
    const id = made.json().id as string;

    const stranger = await f.call('POST', `/api/v1/requests/${id}/cancel`, dan, {});
    assert.equal(stranger.statusCode, 403);
    assert.equal(stranger.json().error.code, 'cancel_not_allowed');
    const scope = await f.call('POST', `/api/v1/requests/${id}/cancel`, aliceReader, {});
    assert.equal(scope.statusCode, 403);
    assert.equal(scope.json().error.code, 'insufficient_scope');
    const unknown = await f.call('POST', '/api/v1/requests/req_nope/cancel', alice, {});
    assert.equal(unknown.statusCode, 404);

    const refusals = await f.store.sql.query<{
      actor: string;
      subject: string;
      details: Record<string, string>;
    }>(
      `SELECT actor, subject, details FROM audit_events WHERE action = 'access.refused' ORDER BY seq`,
    );
    assert.deepEqual(
      refusals.map((r) => [r.actor, r.details.code, r.details.operation]),
      [
        ['dan@acme.test', 'cancel_not_allowed', 'POST /api/v1/requests/:id/cancel'],
        ['alice@acme.test', 'insufficient_scope', 'POST /api/v1/requests/:id/cancel'],
      ],
    );
    assert.equal(refusals[0]!.subject, id, 'a refusal by the core names the request it concerned');

    const declined = await f.call('POST', `/api/v1/requests/${id}/cancel`, alice, {});
    assert.equal(declined.statusCode, 200, declined.body);
    assert.equal(declined.json().status, 'cancelled');
    const [still] = await f.store.sql.query<{ status: string }>(
      'SELECT status FROM requests WHERE id = $1',
      [id],
    );
    assert.equal(still!.status, 'cancelled');
  } finally {
    await f.close();
  }
});

test('a POST sent without a body is taken as {}: let-expire needs none, and a route with required fields names the first missing one', async () => {
  const f = await apiFixture();
  try {
    const alice = await f.token('alice@acme.test', 'request');
    const bare = (url: string) =>
      f.server.inject({ method: 'POST', url, headers: { authorization: `Bearer ${alice}` } });
    const letExpire = await bare('/api/v1/grants/grt_unknown/let-expire');
    assert.equal(letExpire.statusCode, 404, letExpire.body);
    const submit = await bare('/api/v1/requests');
    assert.equal(submit.statusCode, 400);
    assert.equal(submit.json().error.field, 'entitlement');
  } finally {
    await f.close();
  }
});
