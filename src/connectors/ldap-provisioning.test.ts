import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { Client } from 'ldapts';
import { gatehouse } from '../app/gatehouse.js';
import { verifyAudit } from '../core/audit/verify.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { toIdentity, type IdentityRow } from '../core/catalog/rows.js';
import { fixedClock } from '../core/clock.js';
import { createGrant } from '../core/grants/grants.js';
import { DEFAULT_SETTINGS } from '../core/model.js';
import { testStore } from '../store/test-store.js';
import { slapdMissing, startSlapd, type Slapd } from '../testing/slapd.js';
import { connectorSource } from './registry.js';

const SUFFIX = 'dc=acme,dc=test';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const WIKI = `cn=wiki-readers,${GROUPS}`;
const HOUR = 3600;

const TREE = `dn: ${PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ${GROUPS}
objectClass: organizationalUnit
ou: groups

dn: uid=ada,${PEOPLE}
objectClass: inetOrgPerson
uid: ada
cn: Ada
sn: Lovelace

dn: ${WIKI}
objectClass: groupOfNames
cn: wiki-readers
member:
`;

let server: Promise<Slapd> | undefined;
after(async () => {
  if (server) await (await server).stop();
});

async function members(d: Slapd): Promise<string[]> {
  const c = new Client({ url: d.url, timeout: 5000 });
  try {
    await c.bind(d.rootDn, d.rootPassword);
    const r = await c.search(WIKI, { scope: 'base', attributes: ['member'] });
    const v = r.searchEntries[0]?.member ?? [];
    return (Array.isArray(v) ? v : [v]).map(String).filter((m) => m !== '');
  } finally {
    await c.unbind();
  }
}

test('a grant through an LDAP connector is provisioned into the directory by the job runtime, read back, and revoked; a missing group fails it at once with the directory’s answer', async (t) => {
  const missing = slapdMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const d = await (server = startSlapd({ suffix: SUFFIX, ldif: TREE }));
  const at = new Date('2026-03-02T09:00:00.000Z');
  const clock = fixedClock(at);
  const store = await testStore();
  const catalog = new CatalogCache();
  const env = { CORP_LDAP_URL: d.url, CORP_LDAP_PASSWORD: d.servicePassword };
  const connectors = connectorSource(
    async (name) => (await catalog.get(store.sql)).connectors.get(name),
    { env, dataDir: tmpdir() },
  );
  try {
    const { sql } = store;
    await sql.query(`INSERT INTO meta (key, value) VALUES ('created_at', $1)`, [at.toISOString()]);
    await sql.query(
      'INSERT INTO config_state (id, config_hash, settings, applied_at) VALUES (1, $1, $2, $3)',
      ['ldap-e2e', JSON.stringify(DEFAULT_SETTINGS), at],
    );
    await sql.query('INSERT INTO connectors (name, type, settings) VALUES ($1, $2, $3)', [
      'corp-ldap',
      'ldap',
      JSON.stringify({
        url: '${CORP_LDAP_URL}',
        bind_dn: d.serviceDn,
        bind_password: '${CORP_LDAP_PASSWORD}',
        base_dn: SUFFIX,
        account_dn: `uid={account},${PEOPLE}`,
      }),
    ]);
    await sql.query(
      'INSERT INTO apps (id, name, risk, owner, connector) VALUES ($1, $2, $3, $4, $5)',
      ['wiki', 'Wiki', 'low', 'owner', 'corp-ldap'],
    );
    for (const [id, group] of [
      ['wiki:reader', WIKI],
      ['wiki:ghost', `cn=wiki-ghosts,${GROUPS}`],
    ]) {
      await sql.query(
        `INSERT INTO entitlements (id, app, risk, privileged, max_duration, default_duration, standing, kinds,
           requires_ticket, break_glass, approval, licence_tier, target)
         VALUES ($1, 'wiki', 'low', false, NULL, 3600, true, $2, false, false, NULL, NULL, $3)`,
        [id, ['human'], JSON.stringify({ group })],
      );
    }
    await sql.query(
      `INSERT INTO identities (id, kind, status, display_name, manager, created_at, updated_at)
       VALUES ('ada', 'human', 'active', 'Ada', 'ada', $1, $1)`,
      [at],
    );
    const cat = await catalog.get(sql);
    const [row] = await sql.query<IdentityRow>(`SELECT * FROM identities WHERE id = 'ada'`);
    const identity = toIdentity(row!);
    const [reader, ghost] = await sql.transaction(async (tx) => {
      const ids: string[] = [];
      // One after the other: each appends to the one audit chain.
      for (const e of ['wiki:reader', 'wiki:ghost']) {
        ids.push(
          await createGrant(tx, clock.now(), 'test', {
            identity,
            entitlement: cat.entitlements.get(e)!,
            requestId: null,
            trigger: 'request',
            emergency: false,
            duration: 8 * HOUR,
          }),
        );
      }
      return ids;
    });
    const app = gatehouse({ sql, clock, catalog, connectors, workerId: 'ldap-e2e' });

    const applied = await app.sweep();
    const state = async (id: string) =>
      (
        await sql.query<{ state: string; failure: string | null }>(
          'SELECT state, failure FROM grants WHERE id = $1',
          [id],
        )
      )[0]!;
    assert.equal((await state(reader!)).state, 'active', JSON.stringify(applied.failures));
    assert.deepEqual(await members(d), [`uid=ada,${PEOPLE}`]);

    const ghostly = await state(ghost!);
    assert.equal(ghostly.state, 'failed', 'a group that does not exist is not retried');
    assert.match(ghostly.failure ?? '', /corp-ldap.*cn=wiki-ghosts.*does not exist/);
    assert.ok(!(ghostly.failure ?? '').includes(d.servicePassword));

    await app.revoke(reader!, 'ada', 'no longer needed', 'cli');
    const revoked = await app.sweep();
    assert.deepEqual(revoked.failures, []);
    assert.equal((await state(reader!)).state, 'revoked');
    assert.deepEqual(await members(d), [], 'the last member gave way to the placeholder');
    const actions = await sql.query<{ action: string }>(
      'SELECT action FROM audit_events WHERE subject = $1 ORDER BY seq',
      [reader],
    );
    assert.deepEqual(
      actions.map((a) => a.action),
      ['grant.created', 'grant.activated', 'grant.revoke_requested', 'grant.revoked'],
    );
    assert.equal((await verifyAudit(sql)).ok, true, 'the audit chain verifies');
  } finally {
    await connectors.closeAll().catch(() => undefined);
    await store.close();
  }
});
