import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, PEOPLE_HEADER, demoPeople, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';
const DAY = 86400;

type Grant = {
  id: string;
  state: string;
  expires_at: string;
  revoke_trigger: string | null;
  let_expire: boolean;
  last_reminder_at: string | null;
};
type Event = { action: string; actor: string; details: Record<string, unknown> };
type Notification = {
  recipient: string;
  subject: string;
  body: string;
  details: Record<string, unknown>;
  channels: string[];
  delivered_at: Date | null;
};

/** PRODUCT.md §4: owners and beneficiaries are told before expiry, and can answer "let it expire". */
describe('expiry reminders', () => {
  let h: Harness;
  let dans: Grant; // analytics:writer for dan, 30d: a person's grant, told to dan
  let svcs: Grant; // analytics:reader for svc:ci-deployer, 30d: told to its owner only

  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  const grant = async (id: string): Promise<Grant> =>
    (await h.cli(['grants'])).json.grants.find((g: Grant) => g.id === id);
  const reminders = async (id: string): Promise<Event[]> =>
    (await h.cli(['audit', 'trace', id])).json.events.filter(
      (e: Event) => e.action === 'grant.expiry_reminder',
    );
  const notifications = (id: string) =>
    h.store.sql.query<Notification>(
      `SELECT recipient, subject, body, details, channels, delivered_at FROM notifications WHERE grant_id = $1 ORDER BY created_at, recipient`,
      [id],
    );
  /** Requests and (if it needs it) approves; the next sweep activates the grant. */
  const approved = async (ent: string, who: string, as: string, duration: string) => {
    const r = await h.cli([
      'request',
      ent,
      '--for',
      who,
      '--duration',
      duration,
      '--reason',
      WHY,
      '--as',
      as,
    ]);
    assert.equal(r.code, 0, r.stderr);
    if (r.json.status === 'pending_approval')
      assert.equal((await h.cli(['approve', r.json.id, '--as', 'carol@acme.test'])).code, 0);
  };
  const active = async (ent: string, who: string): Promise<Grant> => {
    const g = (await h.cli(['grants', '--identity', who])).json.grants.find(
      (x: Grant & { entitlement: string }) => x.entitlement === ent && x.state === 'active',
    ) as Grant;
    assert.ok(g, `${ent} for ${who} is active`);
    return g;
  };
  /** Moves the clock to `seconds` before the two 30d grants expire. */
  const before30d = (seconds: number) => {
    h.advance((new Date(dans.expires_at).getTime() - new Date(h.now).getTime()) / 1000 - seconds);
  };

  test('no reminder before the first threshold; at 7d before, one reminder to the holder, or to the owner of a service account', async () => {
    await approved('analytics:writer', 'dan@acme.test', 'dan@acme.test', '30d');
    await approved('analytics:reader', 'svc:ci-deployer', 'alice@acme.test', '30d');
    h.advance(60);
    await h.cli(['sweep']);
    dans = await active('analytics:writer', 'dan@acme.test');
    svcs = await active('analytics:reader', 'svc:ci-deployer');
    assert.equal(svcs.expires_at, dans.expires_at);
    assert.equal(dans.let_expire, false);
    assert.equal(dans.last_reminder_at, null);

    before30d(8 * DAY);
    assert.equal((await h.cli(['sweep'])).json.reminded, 0);
    assert.deepEqual(await reminders(dans.id), []);
    assert.deepEqual(await notifications(dans.id), []);

    before30d(6 * DAY);
    const s = await h.cli(['sweep']);
    assert.equal(s.code, 0);
    assert.equal(s.json.reminded, 2);
    const [event, ...more] = await reminders(dans.id);
    assert.deepEqual(more, [], 'exactly one reminder');
    assert.deepEqual(event!.details, {
      expires_at: dans.expires_at,
      threshold_seconds: 7 * DAY,
      recipients: ['dan@acme.test'],
    });
    assert.equal((await grant(dans.id)).last_reminder_at, h.now);

    const toDan = await notifications(dans.id);
    assert.deepEqual(
      toDan.map((n) => n.recipient),
      ['dan@acme.test'],
    );
    assert.equal(
      toDan[0]!.subject,
      `analytics:writer for dan@acme.test expires ${dans.expires_at}`,
    );
    // Stored text carries no command syntax: the API, the UI, an email and a chat message render it as it is.
    assert.match(toDan[0]!.body, new RegExp(`\\(grant ${dans.id}\\)`));
    assert.match(toDan[0]!.body, /ask for an extension/);
    assert.match(toDan[0]!.body, /answer that it may expire/);
    assert.doesNotMatch(toDan[0]!.body, /gatehouse |--|let-expire|`/);
    assert.deepEqual(toDan[0]!.details, {
      grant_id: dans.id,
      identity: 'dan@acme.test',
      entitlement: 'analytics:writer',
      expires_at: dans.expires_at,
      threshold_seconds: 7 * DAY,
      answers: ['extend', 'let_expire'],
    });
    assert.equal(toDan[0]!.delivered_at, null, 'no channel is configured: nobody can be told');
    assert.deepEqual(toDan[0]!.channels, []);
    const report = (await h.cli(['report'])).json;
    assert.equal(report.notification_channels, 'none');
    assert.equal(report.notifications.undeliverable, 2, 'undeliverable, and said so');
    assert.deepEqual(
      (await notifications(svcs.id)).map((n) => n.recipient),
      ['alice@acme.test'],
      'a service account is not a person: its owner is told',
    );
    assert.deepEqual((await reminders(svcs.id))[0]!.details.recipients, ['alice@acme.test']);
  });

  test('the reminder is in the trace of its request', async () => {
    const req = (await h.cli(['grants', '--identity', 'dan@acme.test'])).json.grants.find(
      (g: Grant & { request: string }) => g.id === dans.id,
    ).request as string;
    const actions = (await h.cli(['audit', 'trace', req])).json.events.map((e: Event) => e.action);
    assert.ok(actions.includes('grant.expiry_reminder'), actions.join(', '));
  });

  test('sweeping again, however often, does not remind again for the same threshold', async () => {
    assert.equal((await h.cli(['sweep'])).json.reminded, 0);
    h.advance(3600);
    assert.equal((await h.cli(['sweep'])).json.reminded, 0);
    assert.equal((await reminders(dans.id)).length, 1);
    assert.equal((await notifications(dans.id)).length, 1);
  });

  test("let-expire is refused to others (exit 2), needs a grant with an expiry (exit 1), and stops the holder's reminders", async () => {
    const stranger = await h.cli(['let-expire', dans.id, '--as', 'bob@acme.test']);
    assert.equal(stranger.code, 2);
    assert.match(stranger.stderr, /bob@acme\.test may not let grt_\w+ expire/);
    assert.equal((await h.cli(['let-expire', dans.id])).code, 1, '--as is required');
    assert.equal(
      (await h.cli(['let-expire', 'grt_0000000000000000', '--as', 'dan@acme.test'])).code,
      1,
    );
    const standing = (await h.cli(['grants', '--identity', 'dan@acme.test'])).json.grants.find(
      (g: Grant) => g.expires_at === null,
    ) as Grant;
    const noExpiry = await h.cli(['let-expire', standing.id, '--as', 'dan@acme.test']);
    assert.equal(noExpiry.code, 1);
    assert.match(noExpiry.stderr, /standing and has no expiry/);

    const ok = await h.cli(['let-expire', dans.id, '--as', 'dan@acme.test']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.json.id, dans.id);
    assert.equal(ok.json.let_expire, true);
    assert.equal(ok.json.state, 'active', 'the grant keeps its access until it expires');
    assert.equal((await h.cli(['let-expire', dans.id, '--as', 'dan@acme.test'])).code, 0);
    const answered = (await h.cli(['audit', 'trace', dans.id])).json.events.filter(
      (e: Event) => e.action === 'grant.let_expire',
    );
    assert.equal(answered.length, 1, 'answering twice changes nothing');
    assert.equal(answered[0].actor, 'dan@acme.test');
  });

  test("at 1d before, only the grant not let expire is reminded, and a leaver's agents remind their new owner", async () => {
    // Alice leaves: svc:ci-deployer is handed to her manager, who is now the one to tell.
    const left = await h.sync(
      [PEOPLE_HEADER, ...demoPeople().filter((row) => !row.startsWith('alice@'))],
      ['--kinds', 'human'],
    );
    assert.equal(left.code, 0, left.stderr);
    before30d(12 * 3600);
    const s = await h.cli(['sweep']);
    assert.equal(s.json.reminded, 1);
    assert.equal((await reminders(dans.id)).length, 1, 'let expire: no more reminders');
    assert.equal((await notifications(dans.id)).length, 1);
    const second = (await reminders(svcs.id))[1]!;
    assert.equal(second.details.threshold_seconds, DAY);
    assert.deepEqual(second.details.recipients, ['carol@acme.test']);
    assert.deepEqual(
      (await notifications(svcs.id)).map((n) => n.recipient),
      ['alice@acme.test', 'carol@acme.test'],
    );
  });

  test('a grant let expire is still revoked at its expiry, and verified removed', async () => {
    before30d(-60);
    const s = await h.cli(['sweep']);
    assert.equal(s.json.expired, 2);
    for (const id of [dans.id, svcs.id]) {
      const g = await grant(id);
      assert.equal(g.state, 'revoked');
      assert.equal(g.revoke_trigger, 'expiry');
    }
    assert.equal((await grant(dans.id)).let_expire, true);
    assert.deepEqual(await h.members('analytics_writer'), []);
    const gone = await h.cli(['let-expire', dans.id, '--as', 'dan@acme.test']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /is revoked; only an active grant/);
  });

  let bobs: Grant; // analytics:reader for bob, 10d

  test('with settings stored before reminders existed the defaults apply, and thresholds skipped while sweep did not run send one reminder', async () => {
    // A store whose settings were written before reminders existed: the defaults apply.
    await h.store.sql.query(
      `UPDATE config_state SET settings = settings - 'expiryReminders', config_hash = 'before-reminders'`,
    );
    await approved('analytics:reader', 'bob@acme.test', 'bob@acme.test', '10d');
    h.advance(60);
    await h.cli(['sweep']);
    bobs = await active('analytics:reader', 'bob@acme.test');
    const g = bobs;
    h.advance(9 * DAY + 12 * 3600); // past both 7d and 1d before expiry, with no sweep between
    assert.equal((await h.cli(['sweep'])).json.reminded, 1);
    const [only, ...none] = await reminders(g.id);
    assert.deepEqual(none, []);
    assert.equal(only!.details.threshold_seconds, DAY, 'the latest threshold crossed');
  });

  test('an approved extension takes back "let it expire", and the new expiry is reminded again', async () => {
    const g = bobs;
    assert.equal((await h.cli(['let-expire', g.id, '--as', 'bob@acme.test'])).code, 0);
    const e = await h.cli([
      'extend',
      g.id,
      '--duration',
      '7d',
      '--reason',
      'the project runs another week',
      '--as',
      'bob@acme.test',
    ]);
    if (e.json.status === 'pending_approval')
      assert.equal((await h.cli(['approve', e.json.id, '--as', 'carol@acme.test'])).code, 0);
    const extended = await grant(g.id);
    assert.equal(extended.let_expire, false);
    const event = (await h.cli(['audit', 'trace', g.id])).json.events.find(
      (x: Event) => x.action === 'grant.extended',
    ) as Event;
    assert.equal(event.details.let_expire_cleared, true);
    assert.equal((await h.cli(['sweep'])).json.reminded, 0, '7d before the new expiry not yet');
    h.advance(DAY);
    assert.equal((await h.cli(['sweep'])).json.reminded, 1);
    assert.equal((await reminders(g.id))[1]!.details.threshold_seconds, 7 * DAY);
  });
});
