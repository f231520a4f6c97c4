import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';
import { type Slapd, slapdMissing, startSlapd } from '../testing/slapd.js';

const SUFFIX = 'dc=corp,dc=test';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const ACCOUNTS = ['alice@acme.test', 'bob@acme.test', 'mallory'];
const TREE = [
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  ...ACCOUNTS.map(
    (uid) =>
      `dn: uid=${uid},${PEOPLE}\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: ${uid}\nsn: ${uid}\n`,
  ),
  // groupOfNames must have a member: the empty DN is the connector's placeholder.
  ...['dir-readers', 'dir-writers'].map(
    (cn) => `dn: cn=${cn},${GROUPS}\nobjectClass: groupOfNames\ncn: ${cn}\nmember:\n`,
  ),
].join('\n');

const lines = (
  findings: {
    kind: string;
    identity: string | null;
    account: string;
    entitlement: string;
    action: string;
  }[],
) =>
  findings.map((f) => `${f.kind} ${f.identity ?? f.account} ${f.entitlement} ${f.action}`).sort();

/** The directory's own view of a group, read as its administrator. */
async function members(d: Slapd, cn: string): Promise<string[]> {
  const c = new Client({ url: d.url, timeout: 5000 });
  try {
    await c.bind(d.rootDn, d.rootPassword);
    const r = await c.search(`cn=${cn},${GROUPS}`, { scope: 'base', attributes: ['member'] });
    const v = r.searchEntries[0]?.member;
    return (v === undefined ? [] : Array.isArray(v) ? v : [v])
      .map(String)
      .filter((m) => m !== '')
      .map((dn) => /^uid=([^,]+),/.exec(dn)?.[1] ?? dn)
      .sort();
  } finally {
    await c.unbind();
  }
}

/** A change made behind Gatehouse's back, as the directory's administrator. */
async function modify(d: Slapd, cn: string, operation: 'add' | 'delete', uid: string) {
  const c = new Client({ url: d.url, timeout: 5000 });
  try {
    await c.bind(d.rootDn, d.rootPassword);
    await c.modify(`cn=${cn},${GROUPS}`, [
      new Change({
        operation,
        modification: new Attribute({ type: 'member', values: [`uid=${uid},${PEOPLE}`] }),
      }),
    ]);
  } finally {
    await c.unbind();
  }
}

describe('reconcile against a real OpenLDAP directory', { skip: slapdMissing() ?? false }, () => {
  let d: Slapd;
  let h: Harness;
  const env = `GH_REC_${randomBytes(3).toString('hex').toUpperCase()}`;
  const config = (modes: string) =>
    configVariant(h.dir, {
      'connectors.yaml': (t) =>
        `${t}- name: corp-ldap\n  type: ldap\n  url: \${${env}_URL}\n  bind_dn: ${d.serviceDn}\n  bind_password: \${${env}_PASSWORD}\n  base_dn: ${SUFFIX}\n  reconcile: { ${modes} }\n`,
      'apps/directory.yaml': () =>
        [
          'id: directory',
          'name: Corporate directory',
          'risk: low',
          'owner: erin@acme.test',
          'connector: corp-ldap',
          'entitlements:',
          '  - id: directory:read',
          '    max_duration: 30d',
          '    target: { group: dir-readers }',
          '  - id: directory:write',
          '    max_duration: 30d',
          `    target: { group: 'cn=dir-writers,${GROUPS}' }`,
          '',
        ].join('\n'),
    });

  before(async () => {
    d = await startSlapd({ suffix: SUFFIX, ldif: TREE });
    process.env[`${env}_URL`] = d.url;
    process.env[`${env}_PASSWORD`] = d.servicePassword;
    h = await harness();
  });
  after(async () => {
    await h?.close();
    await d?.stop();
    delete process.env[`${env}_URL`];
    delete process.env[`${env}_PASSWORD`];
  });

  test('access added and removed behind Gatehouse’s back is found as unmanaged, orphaned and missing, and remediation makes the directory match the record', async () => {
    const applied = await h.cli(['apply', config('unmanaged: report')]);
    assert.equal(applied.code, 0, applied.stderr);
    const asked = await h.cli([
      'request',
      'directory:read',
      '--for',
      'bob@acme.test',
      '--reason',
      'reading the org chart',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(asked.code, 0, asked.stderr);
    if (asked.json.status === 'pending_approval')
      assert.equal((await h.cli(['approve', asked.json.id, '--as', 'carol@acme.test'])).code, 0);
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    assert.deepEqual(await members(d, 'dir-readers'), ['bob@acme.test']);
    assert.deepEqual((await h.cli(['reconcile', 'corp-ldap'])).json.findings, []);

    await modify(d, 'dir-readers', 'delete', 'bob@acme.test');
    await modify(d, 'dir-readers', 'add', 'mallory');
    await modify(d, 'dir-writers', 'add', 'alice@acme.test');
    const found = await h.cli(['reconcile', 'corp-ldap']);
    assert.equal(found.code, 0, found.stderr);
    assert.equal(found.json.run.status, 'complete');
    assert.deepEqual(lines(found.json.findings), [
      'missing bob@acme.test directory:read reported',
      'orphaned mallory directory:read reported',
      'unmanaged alice@acme.test directory:write reported',
    ]);

    const fixing = await h.cli([
      'apply',
      config('unmanaged: remediate, missing: remediate, orphaned: remediate'),
    ]);
    assert.equal(fixing.code, 0, fixing.stderr);
    const fixed = await h.cli(['reconcile', 'corp-ldap']);
    assert.deepEqual(lines(fixed.json.findings), [
      'missing bob@acme.test directory:read remediated',
      'orphaned mallory directory:read remediated',
      'unmanaged alice@acme.test directory:write remediated',
    ]);
    assert.equal((await h.cli(['sweep'])).code, 0);
    assert.deepEqual(await members(d, 'dir-readers'), ['bob@acme.test']);
    assert.deepEqual(await members(d, 'dir-writers'), []);
    assert.deepEqual((await h.cli(['reconcile', 'corp-ldap'])).json.findings, []);
    assert.equal((await h.cli(['audit', 'verify'])).json.ok, true);
  });
});
