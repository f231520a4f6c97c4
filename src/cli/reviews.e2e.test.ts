import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../testing/harness.js';

test('gatehouse review: create, show, decide as the reviewer (revoked in the target by sweep), refusals and conflicts with their exit codes, close, list and report', async () => {
  const h = await harness();
  try {
    const created = await h.cli([
      'review',
      'create',
      '--name',
      'Wiki editors Q2',
      '--scope',
      'app=wiki,entitlement=wiki:edit',
      '--due',
      '2026-03-16',
      '--as',
      'gina@acme.test',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const c = created.json;
    assert.match(c.id, /^rev_[0-9a-f]{16}$/);
    assert.equal(c.status, 'open');
    assert.equal(c.default, 'revoke');
    assert.equal(c.due, '2026-03-16T00:00:00.000Z');
    for (const i of c.items)
      for (const k of [
        'id',
        'grant',
        'identity',
        'entitlement',
        'reviewer',
        'decision',
        'decided_by',
        'decided_at',
        'applied',
      ])
        assert.ok(k in i, k);
    const waiting = await h.cli([
      'review',
      'items',
      '--reviewer',
      'carol@acme.test',
      '--limit',
      '2',
    ]);
    assert.equal(waiting.code, 0, waiting.stderr);
    assert.equal(waiting.json.items.length, 2);
    const rest = await h.cli([
      'review',
      'items',
      '--reviewer',
      'carol@acme.test',
      '--cursor',
      waiting.json.next_cursor,
    ]);
    assert.equal(rest.json.items.length, 2, 'alice, bob, dan, heidi: carol has no manager');
    assert.equal(rest.json.next_cursor, null);
    const item = (who: string) => c.items.find((i: { identity: string }) => i.identity === who);

    const bad = await h.cli([
      'review',
      'create',
      '--name',
      'x',
      '--scope',
      'risk=extreme',
      '--due',
      '2026-04-01',
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /scope: risk is one of low, medium, high, critical/);
    const badDue = await h.cli([
      'review',
      'create',
      '--name',
      'x',
      '--scope',
      'app=wiki',
      '--due',
      'soon',
    ]);
    assert.equal(badDue.code, 1);
    assert.match(badDue.stderr, /due is a date/);

    const refused = await h.cli([
      'review',
      'decide',
      item('bob@acme.test').id,
      'revoke',
      '--as',
      'dan@acme.test',
    ]);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /dan@acme.test may not decide review item .*only carol@acme.test may/,
    );

    const revoked = await h.cli([
      'review',
      'decide',
      item('bob@acme.test').id,
      'revoke',
      '--comment',
      'no longer edits',
      '--as',
      'carol@acme.test',
    ]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.json.decision, 'revoke');
    assert.equal(revoked.json.comment, 'no longer edits');
    const twice = await h.cli([
      'review',
      'decide',
      item('bob@acme.test').id,
      'certify',
      '--as',
      'carol@acme.test',
    ]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already decided: revoke by carol@acme.test/);
    const certified = await h.cli([
      'review',
      'decide',
      item('alice@acme.test').id,
      'certify',
      '--expires',
      '2026-06-01',
      '--as',
      'carol@acme.test',
    ]);
    assert.equal(certified.code, 0, certified.stderr);
    assert.equal(certified.json.expires_at, '2026-06-01T00:00:00.000Z');

    assert.equal((await h.cli(['sweep'])).code, 0);
    assert.ok(!(await h.members('wiki_edit')).includes('bob@acme.test'), 'removed in the target');
    const text = await h.cli(['review', 'show', c.id], { text: true });
    assert.equal(text.code, 0);
    assert.match(text.stdout, /Wiki editors Q2: open/);
    assert.match(text.stdout, /revoke by carol@acme.test/);

    const closed = await h.cli(['review', 'close', c.id, '--as', 'gina@acme.test']);
    assert.equal(closed.code, 0, closed.stderr);
    assert.equal(closed.json.status, 'closed');
    assert.ok(
      closed.json.items.filter((i: { applied: string | null }) => i.applied === 'default')
        .length === 3,
      'carol, dan, heidi took the default',
    );
    assert.equal((await h.cli(['review', 'close', c.id])).code, 1);
    const list = await h.cli(['review', 'list']);
    assert.deepEqual(
      list.json.campaigns.map((x: { id: string; counts: { open: number } }) => [
        x.id,
        x.counts.open,
      ]),
      [[c.id, 0]],
    );
    const report = await h.cli(['report']);
    assert.deepEqual(report.json.reviews, {
      open_items: 0,
      overdue_items: 0,
      completion: 1,
      campaigns_open: 0,
    });
    const trace = await h.cli(['audit', 'trace', item('bob@acme.test').grant]);
    const actions = trace.json.events.map((e: { action: string }) => e.action);
    assert.ok(actions.includes('review.item_decided'));
    assert.ok(actions.includes('grant.revoked'));
  } finally {
    await h.close();
  }
});
