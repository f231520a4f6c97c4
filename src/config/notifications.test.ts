import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configErrorsOf, findIssue } from '../testing/config-issues.js';
import { type ConfigIssue, loadConfigDir } from './load.js';

const ACME = join(process.cwd(), 'src/config/fixtures/acme');
const made: string[] = [];
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

/** The acme example with `lines` added to gatehouse.yaml (13 lines: the first lands on line 14). */
async function withSettings(lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-notify-config-'));
  made.push(dir);
  await cp(ACME, dir, { recursive: true });
  await appendFile(join(dir, 'gatehouse.yaml'), `${lines.join('\n')}\n`);
  return dir;
}

const errorsOf = configErrorsOf;
const find = (list: ConfigIssue[], line: number, pattern: RegExp) =>
  findIssue(list, 'gatehouse.yaml', line, pattern);

test('notifications are read with their references kept and the digest in seconds', async () => {
  const { config } = await loadConfigDir(
    await withSettings([
      'notifications:',
      '  email: { smtp_url: "${SMTP_URL}", from: gatehouse@acme.test, address_attribute: email }',
      '  chat: { webhook_url: "${CHAT_WEBHOOK_URL}" }',
      '  digest: 15m',
    ]),
  );
  assert.deepEqual(config.settings.notifications, {
    email: { smtpUrl: '${SMTP_URL}', from: 'gatehouse@acme.test', addressAttribute: 'email' },
    chat: { webhookUrl: '${CHAT_WEBHOOK_URL}' },
    digestSeconds: 900,
  });
});

test('without notifications there is no channel', async () => {
  const { config } = await loadConfigDir(ACME);
  assert.equal(config.settings.notifications, undefined);
});

test('a literal SMTP password and a literal webhook URL are each reported on their line, never repeated', async () => {
  const errors = await errorsOf(
    await withSettings([
      'notifications:',
      '  email:',
      '    smtp_url: smtp://gatehouse:hunter2@mail.acme.test:587',
      '    from: gatehouse@acme.test',
      '  chat:',
      '    webhook_url: https://hooks.example.test/services/T0/B0/secret',
    ]),
  );
  find(errors, 16, /^notifications\.email\.smtp_url: the URL holds a literal password/);
  find(errors, 19, /^notifications\.chat\.webhook_url: a webhook URL holds its credential/);
  assert.ok(
    errors.every((e) => !e.message.includes('hunter2') && !e.message.includes('/B0/secret')),
    'messages never repeat the literal',
  );
});

test('a typo and a bad digest are each reported on their line', async () => {
  const errors = await errorsOf(
    await withSettings([
      'notifications:',
      '  chat:',
      '    webhook_url: "${CHAT_WEBHOOK_URL}"',
      '    channel: "#access"',
      '  digest: soon',
    ]),
  );
  find(errors, 17, /^notifications\.chat: unknown field "channel"/);
  find(errors, 18, /^notifications\.digest: "soon" is not a duration/);
});

test("a reference to Gatehouse's own credentials is refused", async () => {
  const errors = await errorsOf(
    await withSettings(['notifications:', '  chat: { webhook_url: "${GATEHOUSE_API_TOKEN}" }']),
  );
  find(
    errors,
    15,
    /^notifications\.chat\.webhook_url: refers to \$\{GATEHOUSE_API_TOKEN\} is one of Gatehouse's own/,
  );
});
