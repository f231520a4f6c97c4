import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../testing/webhook-receiver.js';

const SECRET = 'whsec-e2e-1c9d02';
const WHY = 'quarterly vendor orders';
const CONNECTOR = `
- name: vendor-portal
  type: webhook
  url: \${E2E_HOOK_URL}
  read_url: \${E2E_HOOK_READ_URL}
  secret: \${E2E_HOOK_SECRET}
  connect_timeout: 2s
  statement_timeout: 2s
`;
const APP = `id: vendor
name: Vendor portal
risk: medium
owner: erin@acme.test
connector: vendor-portal
entitlements:
  - id: vendor:buyer
    max_duration: 30d
    default_duration: 7d
    target: { group: buyers }
`;

type Grant = {
  id: string;
  state: string;
  verification: string | null;
  verified_at: string | null;
  failure: string | null;
};

/** Provisioning through a webhook target by the job runtime: signed events, read-back, retries. */
describe('webhook connector through the job runtime', () => {
  let h: Harness;
  let r: WebhookReceiver;
  before(async () => {
    r = await startWebhookReceiver({
      secret: SECRET,
      groups: ['buyers'],
      accounts: ['dan@acme.test', 'alice@acme.test'],
    });
    process.env.E2E_HOOK_URL = r.eventsUrl;
    process.env.E2E_HOOK_READ_URL = r.readUrl;
    process.env.E2E_HOOK_SECRET = SECRET;
    const parent = mkdtempSync(join(tmpdir(), 'gatehouse-hook-'));
    h = await harness({
      config: configVariant(parent, {
        'connectors.yaml': (t) => t + CONNECTOR,
        'apps/vendor.yaml': () => APP,
      }),
    });
  });
  after(async () => {
    await h.close();
    await r.close();
  });

  async function approved(who: string): Promise<string> {
    const req = await h.cli([
      'request',
      'vendor:buyer',
      '--for',
      who,
      '--reason',
      WHY,
      '--as',
      who,
    ]);
    assert.equal(req.code, 0, req.stderr);
    const a = await h.cli(['approve', req.json.id, '--as', 'carol@acme.test']);
    assert.equal(a.json.status, 'approved', a.stderr);
    return a.json.grant.id as string;
  }
  const grant = async (who: string, id: string): Promise<Grant> =>
    ((await h.cli(['grants', '--identity', who])).json.grants as Grant[]).find((g) => g.id === id)!;

  test('a grant is POSTed signed, read back through the GET, and revoked the same way', async () => {
    const id = await approved('dan@acme.test');
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    let g = await grant('dan@acme.test', id);
    assert.equal(g.state, 'active');
    assert.equal(g.verification, 'read_back');
    assert.equal(g.verified_at, h.now);
    assert.ok(r.groups.get('buyers')!.has('dan@acme.test'));
    assert.deepEqual(r.refused, [], 'every request was signed and fresh');

    await h.cli(['revoke', id, '--reason', 'vendor contract ended', '--as', 'dan@acme.test']);
    assert.equal((await h.cli(['sweep'])).code, 0);
    g = await grant('dan@acme.test', id);
    assert.equal(g.state, 'revoked');
    assert.ok(!r.groups.get('buyers')!.has('dan@acme.test'));
    assert.deepEqual(
      r.events.map((e) => [e.event, e.account]),
      [
        ['grant', 'dan@acme.test'],
        ['revoke', 'dan@acme.test'],
      ],
    );
  });

  test('a 503 with Retry-After is retried no sooner than asked, then verified', async () => {
    const id = await approved('alice@acme.test');
    r.faults.push({ status: 503, headers: { 'retry-after': '120' } });
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 3, 'a target failed during the run');
    assert.match(
      swept.stderr,
      /retrying: apply .* on vendor-portal \(attempt 1, next at .*\): .*503/,
    );
    const at = new Date(new Date(h.now).getTime() + 120_000).toISOString();
    assert.equal(swept.json.failures[0].next_attempt_at, at, 'the target asked for two minutes');
    let g = await grant('alice@acme.test', id);
    assert.equal(g.state, 'provisioning');
    assert.match(String(g.failure), /answered 503/);
    h.advance(60);
    assert.equal((await h.cli(['sweep'])).json.jobs_done, 0, 'not before Retry-After');
    h.advance(61);
    assert.equal((await h.cli(['sweep'])).code, 0);
    g = await grant('alice@acme.test', id);
    assert.equal(g.state, 'active');
    assert.equal(g.failure, null);
  });

  test('an account the receiver does not know fails the grant at once, naming it', async () => {
    const id = await approved('bob@acme.test');
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 3);
    const g = await grant('bob@acme.test', id);
    assert.equal(g.state, 'failed');
    assert.match(String(g.failure), /will not be retried: .*bob@acme.test.*answered 404/);
    assert.ok(!String(g.failure).includes(SECRET));
  });
});
