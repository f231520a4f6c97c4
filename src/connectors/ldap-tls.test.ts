import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { TargetError } from '../core/errors.js';
import type { Connector } from '../core/ports/connector.js';
import { slapdMissing, startSlapd, type Slapd } from '../testing/slapd.js';
import { ldapConnector } from './ldap.js';

const SUFFIX = 'dc=gatehouse,dc=test';
const TREE = `dn: ou=people,${SUFFIX}
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,${SUFFIX}
objectClass: inetOrgPerson
uid: alice
cn: alice
sn: alice

dn: ou=groups,${SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: cn=readers,ou=groups,${SUFFIX}
objectClass: groupOfNames
cn: readers
member:
`;

const servers: Promise<Slapd>[] = [];
after(async () => {
  for (const s of servers) await (await s).stop();
});

const open = (d: Slapd, url: string, extra: Record<string, unknown>): Promise<Connector> =>
  ldapConnector(
    {
      name: 'corp-ldap',
      type: 'ldap',
      settings: {
        url: '${LDAP_URL}',
        bind_dn: d.serviceDn,
        bind_password: '${LDAP_PASSWORD}',
        base_dn: SUFFIX,
        connect_timeout: '2s',
        statement_timeout: '2s',
        ...extra,
      },
    },
    { env: { LDAP_URL: url, LDAP_PASSWORD: d.servicePassword }, dataDir: '/nonexistent' },
  );

test('StartTLS and ldaps:// provision with the configured CA; an untrusted certificate, a wrong name, and StartTLS on a server without TLS fail permanently', async (t) => {
  const missing = slapdMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const tlsServer = startSlapd({ suffix: SUFFIX, ldif: TREE, tls: true });
  servers.push(tlsServer);
  const plainServer = startSlapd({ suffix: SUFFIX, ldif: TREE });
  servers.push(plainServer);
  const d = await tlsServer;
  const plain = await plainServer;
  const ref = { account: 'alice', target: { group: 'readers' } };
  const trusted = { tls: { ca_file: d.caFile } };
  for (const [url, extra] of [
    [d.url, { start_tls: true, ...trusted }],
    [d.ldapsUrl!, trusted],
  ] as const) {
    const c = await open(d, url, extra);
    try {
      await c.apply(ref);
      assert.equal(await c.readBack(ref), true, url);
      await c.revoke(ref);
      assert.equal(await c.readBack(ref), false, url);
    } finally {
      await c.close();
    }
  }
  const failing: [Slapd, string, Record<string, unknown>, string][] = [
    [d, d.url, { start_tls: true }, 'target_tls_failed'],
    [d, d.ldapsUrl!, {}, 'target_tls_failed'],
    [
      d,
      d.ldapsUrl!,
      { tls: { ca_file: d.caFile, server_name: 'ldap.acme.test' } },
      'target_tls_failed',
    ],
    [plain, plain.url, { start_tls: true }, 'target_rejected'],
  ];
  for (const [server, url, extra, code] of failing) {
    const c = await open(server, url, extra);
    try {
      const err = await c.readBack(ref).catch((e: unknown) => e);
      assert.ok(err instanceof TargetError, String(err));
      assert.equal(err.code, code, err.message);
      assert.equal(err.retryable, false, err.message);
      assert.ok(!err.message.includes(server.servicePassword));
    } finally {
      await c.close();
    }
  }
});
