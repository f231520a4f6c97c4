import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gatehouse } from '../../app/gatehouse.js';
import { harness } from '../../testing/harness.js';
import { configVariant } from '../../testing/config-variant.js';
import { CatalogCache } from '../catalog/catalog.js';
import { fixedClock } from '../clock.js';
import { ConflictError, InputError, RefusedError } from '../errors.js';
import { requireGrant } from '../grants/grants.js';
import { openReviewItem } from './items.js';
import { reviewItem } from './view.js';

const DAY = 86400;

/**
 * The demo organisation (engineering holds github:read and wiki:edit, every person wiki:read,
 * erin owns every app, carol manages engineering and has no manager, gina is governance) and the
 * use cases over it on a clock the test moves.
 */
async function setup(config?: string) {
  const h = await harness(config ? { config } : {});
  const clock = fixedClock(h.now);
  const app = gatehouse({
    sql: h.store.sql,
    clock,
    catalog: new CatalogCache(),
    connectors: h.connectors,
    workerId: 'review-test',
  });
  const create = (scope: string, more: { reviewer?: string; default?: string } = {}) =>
    app.reviews.create({
      name: `review of ${scope}`,
      scope,
      due: new Date(clock.now().getTime() + 14 * DAY * 1000),
      actor: 'gina@acme.test',
      via: 'cli',
      ...more,
    });
  const decide = (itemId: string, actor: string, decision: 'certify' | 'revoke', expires?: Date) =>
    app.reviews.decide({ itemId, actor, decision, expires, comment: 'checked', via: 'cli' });
  return { h, clock, app, create, decide };
}

const byIdentity = <T extends { identity: string }>(items: T[]) =>
  Object.fromEntries(items.map((i) => [i.identity, i]));

test('a scope selects the active grants matching every term, and a bad term is an input error naming the scope', async () => {
  const { h, create } = await setup();
  try {
    const c = await create('app=github,risk=low');
    assert.deepEqual(
      c.items.map((i) => `${i.identity} ${i.entitlement}`).sort(),
      ['alice', 'bob', 'carol', 'dan', 'heidi'].map((p) => `${p}@acme.test github:read`),
    );
    assert.equal(c.status, 'open');
    assert.equal(c.default, 'revoke');
    assert.equal((await create('app=github,risk=medium')).items.length, 0, 'low is below medium');
    assert.equal((await create('privileged=true')).items.length, 0);
    assert.equal((await create('kind=human,entitlement=wiki:read')).items.length, 14);
    for (const [scope, message] of [
      ['app=nope', /app "nope" is not configured/],
      ['risk=extreme', /risk is one of low, medium, high, critical/],
      ['colour=red', /"colour" is not a scope term/],
      ['app=github,app=wiki', /app is given twice/],
      ['unused_days=30', /no configured connector reports/],
      ['app=', /app needs a value/],
    ] as const) {
      await assert.rejects(create(scope), (e: InputError) => {
        assert.ok(e instanceof InputError, scope);
        assert.equal(e.field, 'scope');
        assert.match(e.message, message);
        return true;
      });
    }
    await assert.rejects(create('app=github', { reviewer: 'group:nobody' }), /group "nobody"/);
    await assert.rejects(create('app=github', { default: 'ignore' }), /certify or revoke/);
  } finally {
    await h.close();
  }
});

test('each item gets its reviewer; one the rule cannot resolve, or that would review their own access, is routed to the app owner, then governance, and says so', async () => {
  const { h, create } = await setup();
  try {
    const managers = byIdentity((await create('entitlement=github:read')).items);
    assert.deepEqual(managers['alice@acme.test']!.reviewers, ['carol@acme.test']);
    assert.equal(managers['alice@acme.test']!.routed, null);
    // Carol has no manager: her item goes to the app owner, and says why.
    assert.deepEqual(managers['carol@acme.test']!.reviewers, ['erin@acme.test']);
    assert.match(managers['carol@acme.test']!.routed!, /no manager .*routed to the app owner/);

    const owners = byIdentity(
      (await create('entitlement=wiki:read', { reviewer: 'app_owner' })).items,
    );
    assert.deepEqual(owners['alice@acme.test']!.reviewers, ['erin@acme.test']);
    // Erin owns the app: her own wiki access goes past her to the governance group.
    assert.deepEqual(owners['erin@acme.test']!.reviewers, ['gina@acme.test']);
    assert.match(owners['erin@acme.test']!.routed!, /holder .*routed to group governance/);

    const security = byIdentity(
      (await create('entitlement=wiki:read', { reviewer: 'group:security' })).items,
    );
    assert.deepEqual(security['alice@acme.test']!.reviewers, ['sam@acme.test', 'sue@acme.test']);
    assert.deepEqual(security['sam@acme.test']!.reviewers, ['sue@acme.test'], 'not sam himself');
  } finally {
    await h.close();
  }
});

test('only the reviewer decides; revoke revokes the grant through the revoke path, verified in the target; certify may set an expiry within the maximum; deciding twice is a conflict', async () => {
  const { h, app, clock, create, decide } = await setup();
  try {
    const c = await create('entitlement=github:read');
    const items = byIdentity(c.items);
    const alice = items['alice@acme.test']!;
    const bob = items['bob@acme.test']!;
    await assert.rejects(decide(alice.id, 'bob@acme.test', 'revoke'), (e: RefusedError) => {
      assert.ok(e instanceof RefusedError);
      assert.equal(e.code, 'not_reviewer');
      return true;
    });
    await assert.rejects(decide(alice.id, 'alice@acme.test', 'certify'), { code: 'self_review' });

    const revoked = await decide(alice.id, 'carol@acme.test', 'revoke');
    assert.equal(revoked.decision, 'revoke');
    assert.equal(revoked.decided_by, 'carol@acme.test');
    assert.equal((await requireGrant(h.store.sql, alice.grant!)).state, 'revoking');
    await app.sweep();
    const g = await requireGrant(h.store.sql, alice.grant!);
    assert.equal(g.state, 'revoked');
    assert.equal(g.revoke_trigger, 'review');
    assert.ok(g.verified_at, 'removal read back from the target');
    assert.ok(!(await h.members('gh_read')).includes('alice@acme.test'));
    assert.ok((await h.members('gh_read')).includes('bob@acme.test'));
    await assert.rejects(decide(alice.id, 'carol@acme.test', 'certify'), (e: ConflictError) => {
      assert.ok(e instanceof ConflictError);
      assert.equal(e.code, 'already_decided');
      return true;
    });

    const inDays = (n: number) => new Date(clock.now().getTime() + n * DAY * 1000);
    await assert.rejects(decide(bob.id, 'carol@acme.test', 'certify', inDays(400)), {
      code: 'expiry_beyond_max',
      field: 'expires',
    });
    const certified = await decide(bob.id, 'carol@acme.test', 'certify', inDays(30));
    assert.equal(certified.expires_at, inDays(30).toISOString());
    assert.equal(
      (await requireGrant(h.store.sql, bob.grant!)).expires_at?.toISOString(),
      inDays(30).toISOString(),
    );
    const trace = await app.auditTrace(alice.grant!);
    const actions = trace.map((e) => e.action);
    for (const a of ['review.item_opened', 'review.item_decided', 'grant.revoke_requested'])
      assert.ok(actions.includes(a), a);
  } finally {
    await h.close();
  }
});

test('closing applies the default to undecided items and revokes them; closing again is a conflict', async () => {
  const { h, app, create, decide } = await setup();
  try {
    const c = await create('entitlement=wiki:edit');
    const bob = byIdentity(c.items)['bob@acme.test']!;
    await decide(bob.id, 'carol@acme.test', 'certify');
    const closed = await app.reviews.close(c.id, 'gina@acme.test', 'cli');
    assert.equal(closed.status, 'closed');
    for (const i of closed.items) {
      if (i.id === bob.id) {
        assert.deepEqual([i.decision, i.applied], ['certify', null]);
        continue;
      }
      assert.deepEqual([i.decision, i.applied, i.decided_by], ['revoke', 'default', 'gatehouse']);
      assert.equal((await requireGrant(h.store.sql, i.grant!)).state, 'revoking');
    }
    await app.sweep();
    assert.deepEqual(await h.members('wiki_edit'), ['bob@acme.test']);
    await assert.rejects(app.reviews.close(c.id, 'gina@acme.test', 'cli'), {
      code: 'campaign_closed',
    });
    const report = await app.report();
    assert.equal(report.reviews.open_items, 0);
    assert.equal(report.reviews.completion, 1);
  } finally {
    await h.close();
  }
});

test("review show pages a campaign's items by cursor in id order, and refuses a cursor from another campaign", async () => {
  const { h, app, create } = await setup();
  try {
    const c = await create('app=github,risk=low');
    const other = await create('app=wiki');
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await app.reviews.show(c.id, { limit: 2, ...(cursor ? { cursor } : {}) });
      assert.ok(page.items.length <= 2);
      assert.equal(page.counts.items, 5, 'the counts are the whole campaign, not the page');
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor ?? undefined;
      pages += 1;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...c.items.map((i) => i.id)].sort(), 'every item once, in id order');
    const first = await app.reviews.show(c.id, { limit: 2 });
    await assert.rejects(
      app.reviews.show(other.id, { cursor: first.next_cursor! }),
      (e: unknown) => e instanceof InputError && e.field === 'cursor',
    );
    await assert.rejects(
      app.reviews.show(c.id, { limit: '0' }),
      (e: unknown) => e instanceof InputError && e.field === 'limit',
    );
  } finally {
    await h.close();
  }
});

test('at the due date the runtime closes a campaign with its default, on the injected clock', async () => {
  const { h, app, clock, create } = await setup();
  try {
    const c = await create('entitlement=github:read', { default: 'certify' });
    assert.equal((await app.sweep()).reviews_closed, 0);
    assert.equal((await app.report()).reviews.overdue_items, 0);
    clock.advance(14 * DAY - 60);
    assert.equal((await app.sweep()).reviews_closed, 0, 'not yet due');
    clock.advance(60);
    assert.equal((await app.sweep()).reviews_closed, 1);
    const shown = await app.reviews.show(c.id);
    assert.equal(shown.status, 'closed');
    assert.equal(shown.closed_by, 'review-test');
    assert.ok(shown.items.every((i) => i.decision === 'certify' && i.applied === 'default'));
    assert.deepEqual(
      (await h.members('gh_read')).filter((m) => m.endsWith('@acme.test')).length,
      5,
      'certified access stays',
    );
  } finally {
    await h.close();
  }
});

test('a reviews.yaml campaign is opened once per period by the runtime', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'gatehouse-reviews-'));
  const cfg = configVariant(parent, {
    'reviews.yaml': () =>
      '- name: Quarterly wiki\n  scope: app=wiki,entitlement=wiki:edit\n  every: 90d\n  due_in: 14d\n  reviewer: app_owner\n  default: certify\n',
  });
  const { h, app, clock } = await setup(cfg);
  try {
    // The harness's own sweep opened this period's campaign already (before that sweep's
    // provisioning made the grants active, so it holds none).
    const first = await app.reviews.list();
    assert.equal(first.campaigns.length, 1);
    assert.equal(first.campaigns[0]!.recurring, 'Quarterly wiki');
    assert.equal((await app.sweep()).reviews_opened, 0);
    clock.advance(90 * DAY);
    const next = await app.sweep();
    assert.equal(next.reviews_opened, 1);
    assert.equal(next.reviews_closed, 1, 'the last period’s campaign was due');
    assert.equal((await app.sweep()).reviews_opened, 0);
    const both = (await app.reviews.list()).campaigns;
    assert.equal(both.length, 2);
    assert.equal(both[0]!.counts.items, 5, 'the newest reviews the active wiki:edit grants');
    assert.equal(both[0]!.reviewer, 'app_owner');
  } finally {
    await h.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test('of two reviewers deciding one item at once, one wins and the other is told it was decided', async () => {
  const { h, create, decide } = await setup();
  try {
    const c = await create('entitlement=wiki:read', { reviewer: 'group:security' });
    const alice = byIdentity(c.items)['alice@acme.test']!;
    const results = await Promise.allSettled([
      decide(alice.id, 'sam@acme.test', 'certify'),
      decide(alice.id, 'sue@acme.test', 'revoke'),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.equal((lost[0] as PromiseRejectedResult).reason.code, 'already_decided');
  } finally {
    await h.close();
  }
});

test('a standalone item (post-event, mover, …) is decided the same way: certify keeps, revoke revokes', async () => {
  const { h, app, clock, decide } = await setup();
  try {
    const grants = (await app.grants({ identity: 'dan@acme.test', state: 'active' })).grants;
    const gh = grants.find((g) => g.entitlement === 'github:read')!;
    const wiki = grants.find((g) => g.entitlement === 'wiki:edit')!;
    const open = (grantId: string, entitlement: string) =>
      h.store.sql.transaction((tx) =>
        openReviewItem(tx, clock.now(), {
          kind: 'mover',
          grantId,
          identity: 'dan@acme.test',
          entitlement,
          reviewers: ['carol@acme.test'],
          note: 'moved department',
          due: new Date(clock.now().getTime() + DAY * 1000),
          refs: [grantId],
          details: {},
        }),
      );
    const keep = await open(gh.id, 'github:read');
    const drop = await open(wiki.id, 'wiki:edit');
    await assert.rejects(decide(keep, 'erin@acme.test', 'certify'), { code: 'not_reviewer' });
    assert.equal((await decide(keep, 'carol@acme.test', 'certify')).decision, 'certify');
    assert.equal((await decide(drop, 'carol@acme.test', 'revoke')).kind, 'mover');
    await app.sweep();
    assert.equal((await requireGrant(h.store.sql, gh.id)).state, 'active');
    assert.equal((await requireGrant(h.store.sql, wiki.id)).state, 'revoked');
  } finally {
    await h.close();
  }
});

test('a standalone item undecided at its due date takes its default on the injected clock: revoke, through the verified revoke path, audited; a decided one is left as decided', async () => {
  const { h, app, clock, decide } = await setup();
  try {
    const grants = (await app.grants({ identity: 'dan@acme.test', state: 'active' })).grants;
    const gh = grants.find((g) => g.entitlement === 'github:read')!;
    const wiki = grants.find((g) => g.entitlement === 'wiki:edit')!;
    const open = (grantId: string, entitlement: string) =>
      h.store.sql.transaction((tx) =>
        openReviewItem(tx, clock.now(), {
          kind: 'mover',
          grantId,
          identity: 'dan@acme.test',
          entitlement,
          reviewers: ['carol@acme.test'],
          note: 'moved department',
          due: new Date(clock.now().getTime() + DAY * 1000),
          refs: [grantId],
          details: {},
        }),
      );
    const kept = await open(gh.id, 'github:read');
    const forgotten = await open(wiki.id, 'wiki:edit');
    await decide(kept, 'carol@acme.test', 'certify');
    clock.advance(DAY - 60);
    assert.equal((await app.sweep()).review_items_defaulted, 0, 'not yet due');
    clock.advance(60);
    assert.equal((await app.sweep()).review_items_defaulted, 1);
    assert.equal((await app.sweep()).review_items_defaulted, 0, 'an item defaults once');

    const item = await reviewItem(h.store.sql, forgotten);
    assert.equal(item.decision, 'revoke');
    assert.equal(item.applied, 'default');
    assert.equal(item.decided_by, 'gatehouse');
    assert.equal(item.decided_at, clock.now().toISOString());
    assert.equal(
      (await reviewItem(h.store.sql, kept)).applied,
      null,
      'the decided item is untouched',
    );
    const g = await requireGrant(h.store.sql, wiki.id);
    assert.equal(g.state, 'revoked', 'revoked and verified in the target');
    assert.equal(g.revoke_trigger, 'review');
    assert.ok(!(await h.members('wiki_edit')).includes('dan@acme.test'), 'gone from the target');
    assert.equal((await requireGrant(h.store.sql, gh.id)).state, 'active');
    const [event] = await h.store.sql.query<{ actor: string; details: Record<string, unknown> }>(
      `SELECT actor, details FROM audit_events WHERE action = 'review.item_decided' AND subject = $1`,
      [forgotten],
    );
    assert.equal(event?.actor, 'gatehouse');
    assert.equal(event?.details.applied, 'default');
    assert.equal(event?.details.outcome, 'revocation_started');
    assert.equal(event?.details.via, 'job');
  } finally {
    await h.close();
  }
});
