import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../testing/api.js';
import { campaignObject, itemObject } from './routes-reviews.js';

test('reviews over the API: admins open and close campaigns, a reviewer decides their own items, anyone else is refused 403 and audited', async () => {
  const f = await apiFixture();
  try {
    // This fixture has no target: the birthright grants are made active as a verified apply would.
    await f.store.sql.query(
      `UPDATE grants SET state = 'active', granted_at = $1, verified_at = $1, expires_at = $1::timestamptz + interval '365 days'
        WHERE entitlement = 'github:read'`,
      [f.clock.now()],
    );
    const admin = await f.token('gina@acme.test', 'admin');
    const carol = await f.token('carol@acme.test', 'review,read');
    const bob = await f.token('bob@acme.test', 'review,read');
    const carolRead = await f.token('carol@acme.test', 'read');
    const auditor = await f.token('rita@acme.test', 'audit');

    const body = { name: 'GitHub readers', scope: 'app=github', due: '2026-05-15' };
    assert.equal((await f.call('POST', '/api/v1/reviews', carol, body)).statusCode, 403);
    const bad = await f.call('POST', '/api/v1/reviews', admin, { ...body, scope: 'app=nope' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, 'scope');
    const created = await f.call('POST', '/api/v1/reviews', admin, body);
    assert.equal(created.statusCode, 201);
    const campaign = campaignObject.parse(created.json());
    assert.equal(campaign.items.length, 5);
    const alice = campaign.items.find((i) => i.identity === 'alice@acme.test')!;

    // Carol sees the campaign with her items only; Bob reviews nothing in it and is refused.
    const seen = campaignObject.parse(
      (await f.call('GET', `/api/v1/reviews/${campaign.id}`, carol)).json(),
    );
    assert.ok(seen.items.every((i) => i.reviewers.includes('carol@acme.test')));
    assert.equal(seen.items.length, 4, "carol's own item went to the app owner");
    assert.equal((await f.call('GET', `/api/v1/reviews/${campaign.id}`, bob)).statusCode, 403);
    assert.equal((await f.call('GET', '/api/v1/reviews', bob)).json().campaigns.length, 0);
    const waiting = await f.call('GET', '/api/v1/reviews/items?reviewer=erin@acme.test', carol);
    assert.equal(waiting.statusCode, 200);
    assert.deepEqual(
      waiting.json().items.map((i: { reviewers: string[] }) => i.reviewers),
      [['carol@acme.test'], ['carol@acme.test'], ['carol@acme.test'], ['carol@acme.test']],
      'a reviewer sees only what waits on them, whoever they ask about',
    );
    const me = (await f.call('GET', '/api/v1/me', carol)).json();
    assert.equal(me.waiting.review_items.length, 4);
    const erins = await f.call('GET', '/api/v1/reviews/items?reviewer=erin@acme.test', auditor);
    assert.equal(erins.json().items.length, 1);
    const all = await f.call('GET', `/api/v1/reviews/${campaign.id}`, auditor);
    assert.equal(all.json().items.length, 5);

    const decide = (token: string, item: string, payload: object) =>
      f.call('POST', `/api/v1/reviews/items/${item}/decide`, token, payload);
    const other = await decide(bob, alice.id, { decision: 'revoke' });
    assert.equal(other.statusCode, 403);
    assert.equal(other.json().error.code, 'not_reviewer');
    const scope = await decide(carolRead, alice.id, { decision: 'revoke' });
    assert.equal(scope.statusCode, 403);
    assert.equal(scope.json().error.code, 'insufficient_scope');
    const ok = await decide(carol, alice.id, { decision: 'revoke', comment: 'left the team' });
    assert.equal(ok.statusCode, 200);
    const item = itemObject.parse(ok.json());
    assert.deepEqual([item.decision, item.decided_by], ['revoke', 'carol@acme.test']);
    const again = await decide(carol, alice.id, { decision: 'certify' });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'already_decided');

    const refusals = await f.store.sql.query<{ actor: string; details: { code: string } }>(
      `SELECT actor, details FROM audit_events WHERE action = 'access.refused' AND subject = $1`,
      [alice.id],
    );
    assert.ok(
      refusals.some((r) => r.actor === 'bob@acme.test' && r.details.code === 'not_reviewer'),
    );

    assert.equal(
      (await f.call('POST', `/api/v1/reviews/${campaign.id}/close`, carol)).statusCode,
      403,
    );
    const closed = await f.call('POST', `/api/v1/reviews/${campaign.id}/close`, admin);
    assert.equal(closed.statusCode, 200);
    assert.equal(closed.json().status, 'closed');
    assert.equal(
      (await f.call('POST', `/api/v1/reviews/${campaign.id}/close`, admin)).statusCode,
      409,
    );
    assert.deepEqual(f.internalErrors, []);
  } finally {
    await f.close();
  }
});
