import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { TargetError } from '../core/errors.js';
import { notifierSource, retryAfterSeconds } from './notifiers.js';

let http: Server;
let httpPort: number;
let smtp: SMTPServer;
let smtpPort: number;

before(async () => {
  // The path picks the answer: /hooks/404, /hooks/503 …
  http = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = Number(req.url?.split('/').pop()) || 200;
      res.writeHead(status, status === 503 ? { 'retry-after': '42' } : {}).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as AddressInfo).port;
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onAuth: (auth, _s, cb) => cb(null, { user: auth.username }),
    onRcptTo(address, _s, cb) {
      if (address.address.startsWith('nobody@'))
        return cb(Object.assign(new Error('no such mailbox'), { responseCode: 550 }));
      if (address.address.startsWith('busy@'))
        return cb(Object.assign(new Error('mailbox busy, try later'), { responseCode: 450 }));
      cb();
    },
    onData(stream, _s, cb) {
      stream.resume();
      stream.on('end', () => cb());
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  smtpPort = (smtp.server.address() as AddressInfo).port;
});
after(async () => {
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  await new Promise<void>((r) => smtp.close(() => r()));
});

const chat = (path: string, env: Record<string, string> = {}) =>
  notifierSource({
    env: { HOOK: `http://127.0.0.1:${httpPort}/hooks/${path}`, ...env },
  }).get('chat', { chat: { webhookUrl: '${HOOK}' }, digestSeconds: 0 });

async function failure(p: Promise<unknown>): Promise<TargetError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TargetError, String(e));
    return e;
  }
  assert.fail('expected a TargetError');
}

test('a chat webhook answering 2xx delivers; 429 and 5xx are retried with the Retry-After asked; other 4xx are not', async () => {
  await (await chat('200')).send({ subject: 's', text: 't' });
  const busy = await failure((await chat('503')).send({ subject: 's', text: 't' }));
  assert.equal(busy.retryable, true);
  assert.equal(busy.retryAfterSeconds, 42);
  const gone = await failure((await chat('404')).send({ subject: 's', text: 't' }));
  assert.equal(gone.retryable, false);
  assert.equal(gone.code, 'webhook_rejected');
  assert.doesNotMatch(gone.message, /hooks/, 'the webhook URL is its credential');
});

test('an unset reference fails when the sender is built, as a retryable TargetError', async () => {
  const e = await failure(
    notifierSource({ env: {} }).get('chat', {
      chat: { webhookUrl: '${NOT_SET_HOOK}' },
      digestSeconds: 0,
    }),
  );
  assert.equal(e.retryable, true);
  assert.match(e.message, /\$\{NOT_SET_HOOK\}, which is not set/);
});

test('a mail server refusing an address (5xx) is permanent; a 4xx is retried; the password is never in the message', async () => {
  const mail = await notifierSource({
    env: { SMTP: `smtp://gh:pw-9d8e7f@127.0.0.1:${smtpPort}/?ignoreTLS=true` },
  }).get('email', { email: { smtpUrl: '${SMTP}', from: 'gatehouse@acme.test' }, digestSeconds: 0 });
  await mail.send({ to: 'dan@acme.test', subject: 's', text: 't' });
  const refused = await failure(mail.send({ to: 'nobody@acme.test', subject: 's', text: 't' }));
  assert.equal(refused.retryable, false);
  assert.equal(refused.code, 'smtp_rejected');
  const later = await failure(mail.send({ to: 'busy@acme.test', subject: 's', text: 't' }));
  assert.equal(later.retryable, true);
  const down = await failure(
    (
      await notifierSource({
        env: { SMTP: 'smtp://gh:pw-9d8e7f@127.0.0.1:1/?ignoreTLS=true' },
      }).get('email', { email: { smtpUrl: '${SMTP}', from: 'g@acme.test' }, digestSeconds: 0 })
    ).send({ to: 'dan@acme.test', subject: 's', text: 't' }),
  );
  assert.equal(down.retryable, true);
  for (const e of [refused, later, down]) assert.doesNotMatch(e.message, /pw-9d8e7f/);
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(retryAfterSeconds('120'), 120);
  assert.equal(retryAfterSeconds(new Date(61_000).toUTCString(), 1_000), 60);
  assert.equal(retryAfterSeconds(null), undefined);
  assert.equal(retryAfterSeconds('soon'), undefined);
});
