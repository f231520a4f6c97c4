import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { ConfigError, type ConfigIssue, formatIssue, loadConfigDir } from './load.js';

const root = mkdtempSync(join(tmpdir(), 'gatehouse-oidc-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

const withSettings = (yaml: string) =>
  configVariant(root, { 'gatehouse.yaml': (t) => `${t.trimEnd()}\n${yaml}` });

/** The 1-based line of the first line of gatehouse.yaml that contains `text`. */
const lineOf = (dir: string, text: string) =>
  readFileSync(join(dir, 'gatehouse.yaml'), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text)) + 1;

async function issuesOf(dir: string): Promise<ConfigIssue[]> {
  try {
    await loadConfigDir(dir);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues;
  }
  return assert.fail('expected configuration errors');
}

function has(issues: ConfigIssue[], line: number, pattern: RegExp): void {
  assert.ok(
    issues.some((i) => i.file === 'gatehouse.yaml' && i.line === line && pattern.test(i.message)),
    `no gatehouse.yaml:${line} ${pattern} among:\n${issues.map(formatIssue).join('\n')}`,
  );
}

test('oidc: and sessions: are read into the settings, the client secret kept as its reference', async () => {
  const dir = withSettings(`oidc:
  issuer: https://login.acme.test
  client_id: gatehouse
  client_secret: \${OIDC_CLIENT_SECRET}
  identity_claim: email
sessions:
  lifetime: 12h
  scopes:
    audit: [security]
`);
  const { config } = await loadConfigDir(dir);
  assert.deepEqual(config.settings.oidc, {
    issuer: 'https://login.acme.test',
    clientId: 'gatehouse',
    clientSecret: '${OIDC_CLIENT_SECRET}',
    identityClaim: 'email',
  });
  assert.deepEqual(config.settings.sessions, {
    lifetime: 12 * 3600,
    scopes: { audit: ['security'], admin: [] },
  });
});

test('a literal client secret, an http issuer off this machine, Gatehouse’s own credential, an unknown scope group and a misspelt field are each refused at file:line', async () => {
  const dir = withSettings(`oidc:
  issuer: http://login.acme.test
  client_id: gatehouse
  client_secret: hunter2-literal
  identity_claim: email
  redirect_url: https://gatehouse.acme.test/auth/callback
sessions:
  scopes:
    metrics: [security]
`);
  const issues = await issuesOf(dir);
  has(issues, lineOf(dir, 'issuer: http://'), /issuer must be an https URL/);
  has(
    issues,
    lineOf(dir, 'client_secret:'),
    /must be a reference such as \$\{OIDC_CLIENT_SECRET\}/,
  );
  has(issues, lineOf(dir, 'redirect_url'), /unknown field/);
  has(issues, lineOf(dir, 'metrics:'), /unknown field/);
  assert.ok(
    issues.every((i) => !i.message.includes('hunter2')),
    'no message repeats the literal',
  );

  const own = withSettings(`oidc:
  issuer: https://login.acme.test
  client_id: gatehouse
  client_secret: \${GATEHOUSE_ADMIN_TOKEN}
  identity_claim: email
`);
  has(await issuesOf(own), lineOf(own, 'client_secret:'), /Gatehouse's own credentials/);

  const group = withSettings(`sessions:
  scopes:
    admin: [governanse]
`);
  has(await issuesOf(group), lineOf(group, 'admin:'), /group "governanse" is not defined/);
});
