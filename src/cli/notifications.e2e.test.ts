import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { DEMO_CONFIG } from '../demo/seed.js';
import { type Harness, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';
const DAY = 86400;
/** Credentials that must never be printed or stored: the SMTP password and the webhook's path. */
const SMTP_PASSWORD = 'smtp-pw-7f3a9c';
const HOOK_TOKEN = 'T00-hook-b8e1d2c4';

type Mail = { to: string; subject: string; text: string };
type Chat = { text: string; status: number };
type Grant = { id: string; state: string; entitlement: string; expires_at: string };
type Row = {
  id: string;
  recipient: string;
  channels: string[];
  delivered_on: string[];
  delivered_at: Date | null;
  last_error: string | null;
};

/** A local SMTP server (no TLS, any login accepted) that keeps what it receives. */
async function mailServer(): Promise<{ server: SMTPServer; port: number; mails: Mail[] }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onAuth: (auth, _session, cb) => cb(null, { user: auth.username }),
    onData(stream, _session, cb) {
      simpleParser(stream)
        .then((m) => {
          const to = Array.isArray(m.to) ? m.to[0] : m.to;
          mails.push({ to: to?.text ?? '', subject: m.subject ?? '', text: m.text ?? '' });
          cb();
        })
        .catch(cb);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as AddressInfo).port;
  return { server, port, mails };
}

/**
 * A Slack-style incoming webhook on loopback. Messages for alice are answered from a script
 * (500, then 429 with Retry-After, then 200); every other message is accepted.
 */
async function chatReceiver(): Promise<{ server: Server; port: number; chats: Chat[] }> {
  const chats: Chat[] = [];
  const script: [number, Record<string, string>][] = [
    [500, {}],
    [429, { 'retry-after': '600' }],
  ];
  const body = (req: IncomingMessage) =>
    new Promise<string>((r) => {
      let s = '';
      req.on('data', (c: Buffer) => (s += c.toString()));
      req.on('end', () => r(s));
    });
  const server = createServer((req, res) => {
    void body(req).then((raw) => {
      if (req.url !== `/hooks/${HOOK_TOKEN}`) {
        res.writeHead(404).end();
        return;
      }
      const { text } = JSON.parse(raw) as { text: string };
      const [status, headers] = text.startsWith('For alice@acme.test')
        ? (script.shift() ?? [200, {}])
        : [200, {}];
      chats.push({ text, status });
      res.writeHead(status, headers).end(status === 200 ? 'ok' : 'try later');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, chats };
}

/** PRODUCT.md §4 and issue 6: notifications are delivered through the job queue, by email and chat. */
describe('notification delivery', () => {
  let h: Harness;
  let smtp: Awaited<ReturnType<typeof mailServer>>;
  let hook: Awaited<ReturnType<typeof chatReceiver>>;
  let config: string;
  let dans: Grant[];
  let svcs: Grant;

  before(async () => {
    smtp = await mailServer();
    hook = await chatReceiver();
    process.env.GH_TEST_SMTP_URL = `smtp://gatehouse:${SMTP_PASSWORD}@127.0.0.1:${smtp.port}/?ignoreTLS=true`;
    process.env.GH_TEST_CHAT_WEBHOOK = `http://127.0.0.1:${hook.port}/hooks/${HOOK_TOKEN}`;
    config = mkdtempSync(join(tmpdir(), 'gatehouse-notify-'));
    cpSync(DEMO_CONFIG, config, { recursive: true });
    appendFileSync(
      join(config, 'gatehouse.yaml'),
      [
        'notifications:',
        '  email: { smtp_url: "${GH_TEST_SMTP_URL}", from: gatehouse@acme.test }',
        '  chat: { webhook_url: "${GH_TEST_CHAT_WEBHOOK}" }',
        '  digest: 15m',
        '',
      ].join('\n'),
    );
    h = await harness({ config });
  });
  after(async () => {
    await h?.close();
    await new Promise<void>((r) => smtp?.server.close(() => r()) ?? r());
    hook?.server.closeAllConnections();
    await new Promise<void>((r) => hook?.server.close(() => r()) ?? r());
    rmSync(config, { recursive: true, force: true });
  });

  const approved = async (ent: string, who: string, as: string) => {
    const r = await h.cli([
      'request',
      ent,
      '--for',
      who,
      '--duration',
      '30d',
      '--reason',
      WHY,
      '--as',
      as,
    ]);
    assert.equal(r.code, 0, r.stderr);
    if (r.json.status === 'pending_approval')
      assert.equal((await h.cli(['approve', r.json.id, '--as', 'carol@acme.test'])).code, 0);
  };
  const rows = (recipient: string) =>
    h.store.sql.query<Row>(
      `SELECT id, recipient, channels, delivered_on, delivered_at, last_error FROM notifications
        WHERE recipient = $1 ORDER BY created_at, id`,
      [recipient],
    );

  test('reminders wait for the digest window, then go out by email and chat, several for one person as one message', async () => {
    await approved('analytics:writer', 'dan@acme.test', 'dan@acme.test');
    await approved('analytics:reader', 'dan@acme.test', 'dan@acme.test');
    await approved('analytics:reader', 'svc:ci-deployer', 'alice@acme.test');
    h.advance(60);
    assert.equal((await h.cli(['sweep'])).code, 0);
    const grants = (await h.cli(['grants'])).json.grants as (Grant & { identity: string })[];
    svcs = grants.find((g) => g.identity === 'svc:ci-deployer' && g.state === 'active')!;
    dans = grants.filter(
      (g) =>
        g.identity === 'dan@acme.test' &&
        g.state === 'active' &&
        g.expires_at === svcs.expires_at &&
        g.entitlement.startsWith('analytics:'),
    );
    assert.equal(dans.length, 2);
    h.advance((new Date(svcs.expires_at).getTime() - new Date(h.now).getTime()) / 1000 - 6 * DAY);

    const reminded = await h.cli(['sweep']);
    assert.equal(reminded.code, 0, reminded.stderr);
    assert.equal(reminded.json.reminded, 3);
    assert.equal(smtp.mails.length, 0, 'within the digest window nothing is sent yet');
    assert.equal(hook.chats.length, 0);
    const [waiting] = await h.store.sql.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM jobs WHERE kind = 'notification.deliver' AND state = 'pending'`,
    );
    assert.equal(Number(waiting!.n), 4, 'one job per recipient and channel, not per notification');
    assert.equal((await h.cli(['report'])).json.notifications.waiting, 3);

    h.advance(15 * 60);
    const sent = await h.cli(['sweep']);
    assert.equal(sent.code, 3, 'the chat receiver refused one message: a failure, said so');
    assert.match(sent.stderr, /retrying: notification\.deliver notify:chat:alice@acme\.test/);

    const toDan = smtp.mails.filter((m) => m.to === 'dan@acme.test');
    assert.equal(toDan.length, 1, 'two reminders for dan: one email');
    assert.equal(toDan[0]!.subject, '2 notifications from Gatehouse');
    for (const g of dans)
      assert.match(toDan[0]!.text, new RegExp(`${g.entitlement} for dan@acme\\.test expires`));
    assert.doesNotMatch(toDan[0]!.text, /gatehouse |--/);
    const toAlice = smtp.mails.filter((m) => m.to === 'alice@acme.test');
    assert.equal(toAlice.length, 1);
    assert.equal(
      toAlice[0]!.subject,
      `analytics:reader for svc:ci-deployer expires ${svcs.expires_at}`,
    );

    const danChat = hook.chats.filter((c) => c.text.startsWith('For dan@acme.test'));
    assert.equal(danChat.length, 1, 'and one chat message');
    assert.equal(danChat[0]!.status, 200);

    for (const r of await rows('dan@acme.test')) {
      assert.deepEqual(r.channels, ['email', 'chat']);
      assert.deepEqual([...r.delivered_on].sort(), ['chat', 'email']);
      assert.equal(new Date(r.delivered_at!).toISOString(), h.now);
    }
    const trace = (await h.cli(['audit', 'trace', dans[0]!.id])).json.events as {
      action: string;
      details: { channel: string };
    }[];
    assert.deepEqual(
      trace
        .filter((e) => e.action === 'notification.delivered')
        .map((e) => e.details.channel)
        .sort(),
      ['chat', 'email'],
    );
  });

  test('a failing webhook is retried with backoff, honouring Retry-After, and the message arrives exactly once', async () => {
    const [alice] = await rows('alice@acme.test');
    assert.deepEqual(alice!.delivered_on, ['email'], 'the email went; the chat message did not');
    assert.equal(alice!.delivered_at, null);
    assert.match(alice!.last_error!, /^chat: chat webhook answered HTTP 500/);
    let report = (await h.cli(['report'])).json;
    assert.equal(report.notifications.failing, 1);
    assert.equal(report.notification_channels, 'email, chat');

    h.advance(60);
    const limited = await h.cli(['sweep']);
    assert.equal(limited.code, 3);
    assert.match(limited.stderr, /HTTP 429/);
    const [job] = await h.store.sql.query<{ due_at: Date; attempts: number }>(
      `SELECT due_at, attempts FROM jobs WHERE subject = 'notify:chat:alice@acme.test' AND state = 'pending'`,
    );
    assert.equal(job!.attempts, 2);
    assert.ok(
      new Date(job!.due_at).getTime() >= new Date(h.now).getTime() + 600_000,
      'the receiver asked for 600 s',
    );

    h.advance(300);
    assert.equal((await h.cli(['sweep'])).code, 0);
    assert.equal(hook.chats.filter((c) => c.text.startsWith('For alice')).length, 2, 'left alone');

    h.advance(310);
    const ok = await h.cli(['sweep']);
    assert.equal(ok.code, 0, ok.stderr);
    const toAlice = hook.chats.filter((c) => c.text.startsWith('For alice@acme.test'));
    assert.deepEqual(
      toAlice.map((c) => c.status),
      [500, 429, 200],
    );
    const [done] = await rows('alice@acme.test');
    assert.equal(new Date(done!.delivered_at!).toISOString(), h.now);
    assert.equal(done!.last_error, null);
    h.advance(3600);
    await h.cli(['sweep']);
    assert.equal(
      hook.chats.filter((c) => c.status === 200 && c.text.startsWith('For alice')).length,
      1,
    );
    assert.equal(smtp.mails.filter((m) => m.to === 'alice@acme.test').length, 1);
    report = (await h.cli(['report'])).json;
    assert.deepEqual(report.notifications, { waiting: 0, failing: 0, failed: 0, undeliverable: 0 });
  });

  test('no SMTP password or webhook URL reaches a job, a notification, the audit trail or stderr', async () => {
    // A mail server that is down: the error is kept, without the credential in the URL.
    process.env.GH_TEST_SMTP_URL = `smtp://gatehouse:${SMTP_PASSWORD}@127.0.0.1:1/?ignoreTLS=true`;
    process.env.GH_TEST_CHAT_WEBHOOK = `http://127.0.0.1:1/hooks/${HOOK_TOKEN}`;
    const ext = await h.cli([
      'request',
      'analytics:reader',
      '--for',
      'bob@acme.test',
      '--duration',
      '8d',
      '--reason',
      WHY,
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(ext.code, 0, ext.stderr);
    if (ext.json.status === 'pending_approval')
      assert.equal((await h.cli(['approve', ext.json.id, '--as', 'carol@acme.test'])).code, 0);
    h.advance(60);
    await h.cli(['sweep']);
    h.advance(DAY + 3600);
    const s1 = await h.cli(['sweep']);
    h.advance(16 * 60);
    const s2 = await h.cli(['sweep']);
    assert.equal(s2.code, 3);
    assert.match(s2.stderr, /notify:email:bob@acme\.test/);
    const errors = await h.store.sql.query<{ e: string | null }>(
      `SELECT last_error AS e FROM jobs UNION ALL SELECT last_error FROM notifications`,
    );
    const audit = (await h.cli(['audit', 'export'], false)).stdout;
    const all = [s1.stderr, s2.stderr, s2.stdout, audit, ...errors.map((r) => r.e ?? '')].join(
      '\n',
    );
    assert.match(all, /email: /, 'the failure is recorded');
    assert.ok(!all.includes(SMTP_PASSWORD), 'no SMTP password');
    assert.ok(!all.includes(HOOK_TOKEN), 'no webhook URL');
    const [bob] = await rows('bob@acme.test');
    assert.equal(bob!.delivered_at, null);
    assert.ok(bob!.last_error);
    assert.ok((await h.cli(['report'])).json.notifications.failing >= 1);
  });

  test('a recipient without the address attribute is a permanent failure: given up at once, audited and counted as failed', async () => {
    process.env.GH_TEST_SMTP_URL = `smtp://gatehouse:${SMTP_PASSWORD}@127.0.0.1:${smtp.port}/?ignoreTLS=true`;
    process.env.GH_TEST_CHAT_WEBHOOK = `http://127.0.0.1:${hook.port}/hooks/${HOOK_TOKEN}`;
    // The demo's people have no email column: nobody has the attribute.
    writeFileSync(
      join(config, 'gatehouse.yaml'),
      readFileSync(join(config, 'gatehouse.yaml'), 'utf8').replace(
        'from: gatehouse@acme.test }',
        'from: gatehouse@acme.test, address_attribute: email }',
      ),
    );
    const applied = await h.cli(['apply', config]);
    assert.equal(applied.code, 0, applied.stderr);
    h.advance(2 * 3600);
    const s = await h.cli(['sweep']);
    assert.equal(s.code, 3);
    assert.match(
      s.stderr,
      /failed: notification\.deliver notify:email:bob@acme\.test .*not retried.*bob@acme\.test has no email attribute/,
    );
    const [bob] = await rows('bob@acme.test');
    assert.ok(bob!.delivered_on.includes('chat'), 'the chat message went');
    assert.equal(bob!.delivered_at, null);
    const report = (await h.cli(['report'])).json;
    assert.equal(report.notifications.failed, 1);
    const grant = (await h.cli(['grants', '--identity', 'bob@acme.test'])).json.grants.find(
      (g: Grant) => g.entitlement === 'analytics:reader' && g.state === 'active',
    ) as Grant;
    const failed = (await h.cli(['audit', 'trace', grant.id])).json.events.filter(
      (e: { action: string }) => e.action === 'notification.failed',
    );
    assert.equal(failed.length, 1);
    assert.equal(failed[0].details.channel, 'email');
  });
});
