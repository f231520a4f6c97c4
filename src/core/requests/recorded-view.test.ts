import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RequestView } from './view.js';
import { requestView } from './view.js';
import { type Harness, harness } from '../../testing/harness.js';

const WHY = 'needed for the quarterly close';

/**
 * A submission answers with the view it built from what it wrote (ADR 0043), not one read back:
 * for every outcome that view must be exactly the one a reader gets after commit.
 */
describe('the view a submission answers with', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  const readsBack = async (v: RequestView) =>
    assert.deepStrictEqual(v, await requestView(h.store.sql, v.id), `${v.status} ${v.entitlement}`);

  const ask = (entitlement: string, who: string, extra: Record<string, unknown> = {}) =>
    h.app().request({
      requester: who,
      beneficiary: who,
      entitlement,
      justification: WHY,
      via: 'api',
      ...extra,
    });

  test('is the view read back after commit, whatever the outcome of an access request', async () => {
    const seen = new Set<string>();
    const views = [
      await ask('wiki:read', 'bob@acme.test'),
      await ask('wiki:edit', 'erin@acme.test', { duration: 3600 }),
      await ask('analytics:writer', 'bob@acme.test', { duration: 7 * 86400 }),
      await ask('analytics:writer', 'bob@acme.test', { duration: 7 * 86400 }),
      await ask('erp:payment-release', 'sue@acme.test', { ticket: 'JIRA:ITSM-42' }),
      await ask('analytics:reader', 'dave@acme.test', { justification: '' }),
      await ask('prod:admin', 'dan@acme.test', { emergency: true, duration: 8 * 3600 }),
      await ask('erp:vendor-create', 'sue@acme.test', { emergency: true }),
    ];
    for (const v of views) {
      await readsBack(v);
      seen.add(`${v.status}${v.emergency ? ' emergency' : ''}`);
    }
    assert.deepEqual(
      [...seen].sort(),
      ['approved', 'approved emergency', 'pending_approval', 'rejected', 'rejected emergency'],
      'the cases cover every outcome',
    );
    assert.ok(
      views.some((v) => v.grant?.state === 'provisioning'),
      'a request granted at once',
    );
    assert.ok(
      views.some((v) => v.approval.stages.length > 1),
      'a request with more than one stage',
    );
    assert.ok(
      views.some((v) => v.decision.reasons.some((r) => r.code === 'duplicate')),
      'a duplicate',
    );
  });

  test('is the view read back after commit for an extension, approved, pending or rejected', async () => {
    const app = h.app();
    const r = await ask('analytics:reader', 'alice@acme.test', { duration: 7 * 86400 });
    if (r.status === 'pending_approval')
      await app.act(r.id, 'carol@acme.test', 'approve', 'ok', 'api');
    await h.cli(['sweep']);
    const grant = (await h.cli(['grants', '--identity', 'alice@acme.test'])).json.grants.find(
      (g: { entitlement: string }) => g.entitlement === 'analytics:reader',
    ) as { id: string; state: string };
    assert.equal(grant.state, 'active');
    const extend = (duration: number) =>
      app.extend({
        requester: 'alice@acme.test',
        grant: grant.id,
        justification: 'the project runs another week',
        duration,
        via: 'api',
      });
    const tooLong = await extend(30 * 86400);
    assert.equal(tooLong.status, 'rejected');
    await readsBack(tooLong);
    const week = await extend(7 * 86400);
    await readsBack(week);
    if (week.status === 'pending_approval') {
      await readsBack(await app.act(week.id, 'carol@acme.test', 'approve', 'ok', 'api'));
    }
  });
});
