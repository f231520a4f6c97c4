import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Connector } from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { describeConnectorContract } from './contract.js';
import { retryAfter, webhookModule, webhookSignature } from './webhook.js';
import { refusingPort, unresponsiveTarget, type TestTarget } from './test-targets.js';
import { startWebhookReceiver, type WebhookReceiver } from '../testing/webhook-receiver.js';

const SECRET = 'whsec-contract-7f3a9c';
const TOKEN = 'bearer-token-5b1e';
const SHORT = { connect_timeout: '1s', statement_timeout: '1s' };
const settings = {
  url: '${HOOK_URL}',
  read_url: '${HOOK_READ_URL}',
  secret: '${HOOK_SECRET}',
  token: '${HOOK_TOKEN}',
  ...SHORT,
};

async function open(name: string, url: string, readUrl: string, secret = SECRET) {
  return webhookModule.create(
    { name, type: 'webhook', settings },
    {
      env: { HOOK_URL: url, HOOK_READ_URL: readUrl, HOOK_SECRET: secret, HOOK_TOKEN: TOKEN },
      dataDir: '/nonexistent',
    },
  );
}

const receivers: WebhookReceiver[] = [];
async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({
    secret: SECRET,
    groups: ['readers', 'writers', 'other'],
    accounts: ['alice', 'bob o’neil&co'],
  });
  receivers.push(r);
  return r;
}
after(async () => {
  for (const r of receivers) await r.close();
});

const opened: Connector[] = [];
const targets: TestTarget[] = [];
describeConnectorContract(
  'webhook (signed events, read back through a GET)',
  async () => {
    const r = await receiver();
    const connector = await open('hooks', r.eventsUrl, r.readUrl);
    const silent = await unresponsiveTarget();
    targets.push(silent);
    const hung = await open(
      'hooks-silent',
      `http://127.0.0.1:${silent.port}/events`,
      `http://127.0.0.1:${silent.port}/access?account={account}&group={group}`,
    );
    const port = await refusingPort();
    const refusing = await open(
      'hooks-refusing',
      `http://127.0.0.1:${port}/events`,
      `http://127.0.0.1:${port}/access?account={account}&group={group}`,
    );
    opened.push(connector, hung, refusing);
    return {
      module: webhookModule,
      settings,
      connector,
      governed: [{ group: 'readers' }, { group: 'writers' }],
      ungoverned: { group: 'other' },
      missingTarget: { group: 'missing' },
      accounts: ['alice', 'bob o’neil&co'],
      missingAccount: 'carol',
      faults: { unresponsive: [hung], refusing },
    };
  },
  async () => {
    for (const c of opened) await c.close();
    for (const t of targets) await t.close();
  },
);

test('every event is signed over timestamp and body, and the receiver keeps what it was told', async () => {
  const r = await receiver();
  const c = await open('hooks', r.eventsUrl, r.readUrl);
  await c.apply({ account: 'alice', target: { group: 'readers' } });
  await c.revoke({ account: 'alice', target: { group: 'readers' } });
  assert.deepEqual(
    r.events.map((e) => [e.event, e.account, e.target.group]),
    [
      ['grant', 'alice', 'readers'],
      ['revoke', 'alice', 'readers'],
    ],
  );
  assert.deepEqual(r.refused, []);
  assert.equal(
    webhookSignature('k', '1700000000', '{}'),
    `sha256=${createHmac('sha256', 'k').update('1700000000.{}').digest('hex')}`,
  );
});

test('the receiver refuses a wrong signature, and the connector reports it as a permanent auth failure', async () => {
  const r = await receiver();
  const c = await open('hooks', r.eventsUrl, r.readUrl, 'not-the-secret');
  const err = await c.apply({ account: 'alice', target: { group: 'readers' } }).catch((e) => e);
  assert.ok(err instanceof TargetError, String(err));
  assert.equal(err.code, 'target_auth_failed');
  assert.equal(err.retryable, false);
  assert.ok(!err.message.includes('not-the-secret'), 'the secret never reaches a message');
  assert.deepEqual(r.refused, [{ reason: 'bad signature' }]);
  assert.equal(r.groups.get('readers')!.size, 0);
});

test('the receiver refuses a timestamp outside its replay window and a request sent twice', async () => {
  const r = await receiver();
  const c = await open('hooks', r.eventsUrl, r.readUrl);
  r.skewSeconds = 301; // the receiver's clock is five minutes ahead: the request looks old
  const err = await c.apply({ account: 'alice', target: { group: 'readers' } }).catch((e) => e);
  assert.equal(err.code, 'target_auth_failed');
  assert.deepEqual(r.refused, [{ reason: 'timestamp outside the replay window' }]);
  r.skewSeconds = 0;
  // A captured request replayed as it was: same timestamp, same body, same signature.
  const ts = String(Math.floor(Date.now() / 1000));
  const body = JSON.stringify({ event: 'grant', account: 'alice', target: { group: 'writers' } });
  const send = () =>
    fetch(r.eventsUrl, {
      method: 'POST',
      headers: {
        'x-gatehouse-timestamp': ts,
        'x-gatehouse-signature': webhookSignature(SECRET, ts, body),
      },
      body,
    });
  assert.equal((await send()).status, 200);
  assert.equal((await send()).status, 401);
  assert.equal(r.refused.at(-1)!.reason, 'replayed request');
});

test('429 and 5xx are retryable and carry Retry-After; other 4xx are permanent', async () => {
  const r = await receiver();
  const c = await open('hooks', r.eventsUrl, r.readUrl);
  const ref = { account: 'alice', target: { group: 'readers' } };
  const cases: [number, Record<string, string> | undefined, string, boolean, number?][] = [
    [429, { 'retry-after': '120' }, 'target_busy', true, 120],
    [503, { 'retry-after': '7' }, 'target_unavailable', true, 7],
    [500, undefined, 'target_unavailable', true],
    [400, undefined, 'target_rejected', false],
    [403, undefined, 'target_forbidden', false],
    [404, undefined, 'target_not_found', false],
  ];
  for (const [status, headers, code, retryable, after] of cases) {
    r.faults.push(headers ? { status, headers } : { status });
    const err = await c.apply(ref).catch((e) => e);
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, code, `${status}`);
    assert.equal(err.retryable, retryable, `${status}`);
    assert.equal(err.retryAfterSeconds, after, `${status}`);
    assert.ok(err.message.includes(String(status)) && err.message.includes('hooks'));
  }
  // A read_url that points nowhere is a permanent error, never "absent".
  const odd = await open('hooks', r.eventsUrl, `${r.url}/nowhere?x={account}`);
  const err = await odd.readBack(ref).catch((e) => e);
  assert.equal(err.code, 'target_not_found');
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(retryAfter('30'), 30);
  assert.equal(retryAfter(null), undefined);
  assert.equal(retryAfter('soon'), undefined);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60);
});

test('bad settings are input errors naming the setting', async () => {
  const make = (env: Record<string, string>) =>
    webhookModule.create({ name: 'hooks', type: 'webhook', settings }, { env, dataDir: '/x' });
  const unset = await make({ HOOK_URL: 'http://x', HOOK_READ_URL: 'http://x' }).catch((e) => e);
  assert.ok(unset instanceof InputError);
  assert.equal(unset.field, 'secret');
  const ftp = await make({
    HOOK_URL: 'ftp://x',
    HOOK_READ_URL: 'http://x',
    HOOK_SECRET: 's',
    HOOK_TOKEN: 't',
  }).catch((e) => e);
  assert.ok(ftp instanceof InputError);
  assert.equal(ftp.field, 'url');
  assert.ok(!webhookModule.settings.safeParse({ url: 'http://x', secret: 's' }).success);
});
