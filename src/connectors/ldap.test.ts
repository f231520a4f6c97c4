import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Attribute, Change, Client } from 'ldapts';
import type { Connector } from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { describeConnectorContract, type ContractFixture } from './contract.js';
import { ldapConnector, ldapModule } from './ldap.js';
import { classify } from './ldap-errors.js';
import { dnTemplate, escapeDnValue, isUnder, normalizeDn, parseDn } from './ldap-dn.js';
import { refusingPort, unresponsiveTarget, type TestTarget } from './test-targets.js';
import { slapdMissing, startSlapd, type Slapd } from '../testing/slapd.js';

const SUFFIX = 'dc=gatehouse,dc=test';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
/** A comma and a quote prove that accounts are escaped into DNs, never spliced. */
const ACCOUNTS = ['alice', "bob, o'neil"] as const;
const MISSING_ACCOUNT = 'carol';

const person = (uid: string) => `dn: uid=${escapeDnValue(uid)},${PEOPLE}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${uid}
sn: ${uid}
`;
/** groupOfNames must have a member: new groups hold the empty DN, the connector's placeholder. */
const groupOfNames = (cn: string) => `dn: cn=${cn},${GROUPS}
objectClass: groupOfNames
cn: ${cn}
member:
`;
const posixGroup = (cn: string, gid: number) => `dn: cn=${cn},${GROUPS}
objectClass: posixGroup
cn: ${cn}
gidNumber: ${gid}
`;

const AUDITOR = `cn=auditor,ou=services,${SUFFIX}`;
const TREE = [
  `dn: ${AUDITOR}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: auditor\nuserPassword: auditor-pw\n`,
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n`,
  ...ACCOUNTS.map(person),
  ...['readers', 'Odd Writers', 'other', 'twin'].map(groupOfNames),
  // A second group named twin elsewhere in the tree makes the cn ambiguous.
  groupOfNames('twin').replace(GROUPS, PEOPLE),
  ...['px-readers', 'px-writers', 'px-other'].map((cn, i) => posixGroup(cn, 5000 + i)),
].join('\n');

/** One slapd for the whole file, started on first use. */
let server: Promise<Slapd> | undefined;
const slapd = () => (server ??= startSlapd({ suffix: SUFFIX, ldif: TREE }));
after(async () => {
  if (server) await (await server).stop();
});

/** Short timeouts, so the fault checks finish quickly. */
const SHORT = { connect_timeout: '1s', statement_timeout: '1s' };

const settingsFor = (extra: Record<string, unknown>) => ({
  url: '${LDAP_URL}',
  bind_dn: '${LDAP_BIND_DN}',
  bind_password: '${LDAP_PASSWORD}',
  base_dn: SUFFIX,
  ...SHORT,
  ...extra,
});

async function open(
  name: string,
  url: string,
  extra: Record<string, unknown> = {},
  credentials?: { dn: string; password: string },
): Promise<Connector> {
  let s = credentials;
  if (!s) {
    const d = await slapd();
    s = { dn: d.serviceDn, password: d.servicePassword };
  }
  return ldapConnector(
    { name, type: 'ldap', settings: settingsFor(extra) },
    {
      env: { LDAP_URL: url, LDAP_BIND_DN: s.dn, LDAP_PASSWORD: s.password },
      dataDir: '/nonexistent',
    },
  );
}

/** LDAPMessage { messageID, bindResponse { success, "", "" } } for the request in `data`. */
function bindSuccess(data: Buffer): Buffer {
  let i = 1;
  const len = data[i++]!;
  if (len & 0x80) i += len & 0x7f;
  assert.equal(data[i], 0x02, 'a message id');
  const idLen = data[i + 1]!;
  const id = data.subarray(i + 2, i + 2 + idLen);
  const op = Buffer.from([0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
  return Buffer.concat([Buffer.from([0x30, 2 + idLen + op.length, 0x02, idLen]), id, op]);
}

/**
 * The faults the contract checks on every network target: a server that never answers at all,
 * one that accepts the bind and then never answers a search or a modification, and a port that
 * refuses connections.
 */
async function faults(targets: TestTarget[], opened: Connector[], extra: Record<string, unknown>) {
  const silent = await unresponsiveTarget();
  const stalling = await unresponsiveTarget((socket: Socket) => {
    socket.once('data', (data: Buffer) => socket.write(bindSuccess(data)));
  });
  targets.push(silent, stalling);
  const unresponsive = [
    await open('ldap-silent', silent.url('ldap').replace(/gatehouse@|\/x$/g, ''), extra),
    await open('ldap-stalling', stalling.url('ldap').replace(/gatehouse@|\/x$/g, ''), extra),
  ];
  const refusing = await open('ldap-refusing', `ldap://127.0.0.1:${await refusingPort()}`, extra);
  opened.push(...unresponsive, refusing);
  return { unresponsive, refusing };
}

for (const style of [
  {
    title: 'ldap (groupOfNames member, account DN from a template)',
    extra: { membership: 'member', account_dn: `uid={account},${PEOPLE}` },
    groups: ['readers', `cn=Odd Writers,${GROUPS}`, 'other'],
  },
  {
    title: 'ldap (posixGroup memberUid, account found by uid)',
    extra: { membership: 'memberUid', account_search: { attribute: 'uid', base_dn: PEOPLE } },
    groups: [`cn=px-readers,${GROUPS}`, 'px-writers', 'px-other'],
  },
]) {
  const opened: Connector[] = [];
  const targets: TestTarget[] = [];
  describeConnectorContract(
    style.title,
    async (): Promise<ContractFixture | { skip: string }> => {
      const missing = slapdMissing();
      if (missing) return { skip: missing };
      const d = await slapd();
      const connector = await open('corp-ldap', d.url, style.extra);
      opened.push(connector);
      const [g0, g1, other] = style.groups as [string, string, string];
      return {
        module: ldapModule,
        settings: settingsFor(style.extra),
        connector,
        governed: [{ group: g0 }, { group: g1 }],
        ungoverned: { group: other },
        missingTarget: { group: `cn=missing,${GROUPS}` },
        accounts: [ACCOUNTS[0], ACCOUNTS[1]],
        missingAccount: MISSING_ACCOUNT,
        faults: await faults(targets, opened, style.extra),
      };
    },
    async () => {
      for (const c of opened) await c.close();
      for (const t of targets) await t.close();
    },
  );
}

/** The admin's view of a group's values of `attribute`. */
async function groupValues(d: Slapd, cn: string, attribute: string): Promise<string[]> {
  const c = new Client({ url: d.url, timeout: 5000 });
  try {
    await c.bind(d.rootDn, d.rootPassword);
    const r = await c.search(`cn=${cn},${GROUPS}`, { scope: 'base', attributes: [attribute] });
    const v = r.searchEntries[0]?.[attribute];
    return (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(String).sort();
  } finally {
    await c.unbind();
  }
}

async function withSlapd(t: TestContext): Promise<Slapd | undefined> {
  const missing = slapdMissing();
  if (missing) {
    t.skip(missing);
    return undefined;
  }
  return slapd();
}

test('revoking the last member of a groupOfNames leaves the placeholder, which is never listed as access', async (t) => {
  const d = await withSlapd(t);
  if (!d) return;
  const c = await open('corp-ldap', d.url, { account_search: { attribute: 'uid' } });
  try {
    const ref = { account: 'alice', target: { group: 'other' } };
    await c.revoke(ref);
    await c.apply(ref);
    // The group now holds the placeholder and alice: remove the placeholder behind our back,
    // so alice is the only member.
    const admin = new Client({ url: d.url, timeout: 5000 });
    await admin.bind(d.rootDn, d.rootPassword);
    await admin
      .modify(`cn=other,${GROUPS}`, [
        new Change({
          operation: 'delete',
          modification: new Attribute({ type: 'member', values: [''] }),
        }),
      ])
      .finally(() => admin.unbind());
    assert.deepEqual(await groupValues(d, 'other', 'member'), [`uid=alice,${PEOPLE}`]);

    await c.revoke(ref);
    assert.equal(await c.readBack(ref), false);
    assert.deepEqual(await groupValues(d, 'other', 'member'), ['']);
    const listed = [];
    for await (const page of c.listAll([{ group: 'other' }])) listed.push(...page);
    assert.deepEqual(listed, []);
  } finally {
    await c.close();
  }
});

test('a member DN that follows no template is listed by its account attribute, or by its DN', async (t) => {
  const d = await withSlapd(t);
  if (!d) return;
  const c = await open('corp-ldap', d.url, {});
  try {
    const target = { group: 'readers' };
    await c.apply({ account: 'alice', target });
    const admin = new Client({ url: d.url, timeout: 5000 });
    await admin.bind(d.rootDn, d.rootPassword);
    await admin
      .modify(`cn=readers,${GROUPS}`, [
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'member', values: [d.serviceDn] }),
        }),
      ])
      .finally(() => admin.unbind());
    const listed = [];
    for await (const page of c.listAll([target])) listed.push(...page);
    const accounts = listed.map((a) => a.account);
    assert.ok(accounts.includes('alice'), 'a uid= DN beneath the accounts is read as its uid');
    assert.ok(
      accounts.includes(d.serviceDn),
      'an entry without uid is listed by its DN, so reconciliation sees it',
    );
    assert.ok(!accounts.includes(''), 'the placeholder is no access');
    await c.revoke({ account: 'alice', target });
  } finally {
    await c.close();
  }
});

test('wrong credentials are a permanent target_auth_failed that never shows the password', async (t) => {
  const d = await withSlapd(t);
  if (!d) return;
  const c = await open('corp-ldap', d.url, {}, { dn: d.serviceDn, password: 'not-the-password' });
  try {
    const err = await c
      .readBack({ account: 'alice', target: { group: 'readers' } })
      .catch((e) => e);
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, 'target_auth_failed', err.message);
    assert.equal(err.retryable, false);
    assert.ok(!err.message.includes('not-the-password'), err.message);
  } finally {
    await c.close();
  }
});

test('a bind account without write access to the group is a permanent target_forbidden', async (t) => {
  const d = await withSlapd(t);
  if (!d) return;
  // The auditor may read everything; only the service account may write membership.
  const c = await open('corp-ldap', d.url, {}, { dn: AUDITOR, password: 'auditor-pw' });
  try {
    const err = await c.apply({ account: 'alice', target: { group: 'readers' } }).catch((e) => e);
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.code, 'target_forbidden', err.message);
    assert.equal(err.retryable, false);
  } finally {
    await c.close();
  }
});

test('a group outside base_dn, a malformed DN and an ambiguous cn are refused permanently', async (t) => {
  const d = await withSlapd(t);
  if (!d) return;
  const c = await open('corp-ldap', d.url, {});
  try {
    for (const group of ['cn=x,dc=elsewhere,dc=test', 'cn=x,,dc=gatehouse']) {
      const err = await c.apply({ account: 'alice', target: { group } }).catch((e) => e);
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.code, 'invalid_target', err.message);
      assert.equal(err.retryable, false);
    }
    const twin = await c.apply({ account: 'alice', target: { group: 'twin' } }).catch((e) => e);
    assert.ok(twin instanceof TargetError, String(twin));
    assert.equal(twin.code, 'target_ambiguous', twin.message);
    assert.equal(twin.retryable, false);
    assert.match(twin.message, /name it by its DN/);
    await c.apply({ account: 'alice', target: { group: `cn=twin,${PEOPLE}` } });
    assert.equal(
      await c.readBack({ account: 'alice', target: { group: `cn=twin,${PEOPLE}` } }),
      true,
    );
  } finally {
    await c.close();
  }
});

test('settings are checked: the URL scheme, the account template, both account lookups, start_tls on ldaps', async () => {
  const parse = (extra: Record<string, unknown>) =>
    ldapModule.settings.safeParse({ ...settingsFor({}), ...extra }).success;
  assert.ok(parse({}));
  assert.ok(!parse({ url: 'http://ldap.acme.test' }));
  assert.ok(!parse({ account_dn: 'uid=alice,ou=people' }), 'the template needs {account}');
  assert.ok(
    !parse({ account_dn: `uid={account},${PEOPLE}`, account_search: { attribute: 'uid' } }),
  );
  assert.ok(!parse({ url: 'ldaps://ldap.acme.test', start_tls: true }));
  assert.ok(!parse({ membership: 'uniqueMember' }));
  assert.ok(parse({ url: 'ldaps://ldap.acme.test:636', tls: { verify: true } }));
  await assert.rejects(
    ldapConnector(
      { name: 'corp-ldap', type: 'ldap', settings: settingsFor({}) },
      {
        env: { LDAP_URL: 'postgres://x:secret@h/db', LDAP_BIND_DN: 'cn=a', LDAP_PASSWORD: 'p' },
        dataDir: '/nonexistent',
      },
    ),
    (e: Error) => e instanceof InputError && !e.message.includes('secret'),
  );
});

test('LDAP failures are classified: what waiting cannot fix is permanent, the rest retried', () => {
  const ldap = (code: number) => Object.assign(new Error(`code ${code}`), { code });
  const cases: [unknown, string, boolean][] = [
    [ldap(49), 'target_auth_failed', false],
    [ldap(50), 'target_forbidden', false],
    [ldap(32), 'target_not_found', false],
    [ldap(65), 'target_rejected', false],
    [ldap(34), 'target_rejected', false],
    [ldap(51), 'target_busy', true],
    [ldap(52), 'target_unavailable', true],
    [ldap(3), 'target_timeout', true],
    [ldap(80), 'target_error', true],
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'target_unreachable',
      true,
    ],
    [new Error('SearchRequest: Operation timed out'), 'target_timeout', true],
    [
      new Error('Connection closed before message response was received.'),
      'target_unreachable',
      true,
    ],
    [
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'target_tls_failed',
      false,
    ],
  ];
  for (const [e, code, retryable] of cases) {
    const c = classify(e);
    assert.deepEqual([c.code, c.retryable], [code, retryable], String((e as Error).message));
  }
});

test('DNs are escaped, parsed and compared as RFC 4514 says', () => {
  assert.equal(escapeDnValue("bob, o'neil"), "bob\\, o'neil");
  assert.equal(escapeDnValue(' #x '), '\\ #x\\ ');
  assert.deepEqual(parseDn("uid=bob\\2C o'neil , ou=people,dc=x"), [
    [{ type: 'uid', value: "bob, o'neil" }],
    [{ type: 'ou', value: 'people' }],
    [{ type: 'dc', value: 'x' }],
  ]);
  assert.equal(parseDn('cn=x,,dc=y'), undefined);
  assert.equal(normalizeDn('CN=Odd Writers, OU=Groups,dc=X'), 'cn=odd writers,ou=groups,dc=x');
  assert.ok(isUnder(`cn=a,${GROUPS}`, SUFFIX));
  assert.ok(!isUnder('cn=a,dc=other,dc=test', SUFFIX));
  const tpl = dnTemplate(`uid={account},${PEOPLE}`)!;
  assert.equal(tpl.dn("bob, o'neil"), `uid=bob\\, o'neil,${PEOPLE}`);
  assert.equal(tpl.account(tpl.dn("bob, o'neil")), "bob, o'neil");
  assert.equal(tpl.account(`uid=x,ou=other,${SUFFIX}`), undefined);
  assert.equal(dnTemplate('cn=fixed,ou=people'), undefined);
});
