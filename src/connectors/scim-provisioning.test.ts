import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { gatehouse } from '../app/gatehouse.js';
import { verifyAudit } from '../core/audit/verify.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { toIdentity, type IdentityRow } from '../core/catalog/rows.js';
import { fixedClock } from '../core/clock.js';
import { createGrant } from '../core/grants/grants.js';
import { DEFAULT_SETTINGS } from '../core/model.js';
import { testStore } from '../store/test-store.js';
import { startScimServer, type ScimServer } from '../testing/scim-server.js';
import { connectorSource } from './registry.js';

const HOUR = 3600;

let server: ScimServer | undefined;
after(async () => {
  await server?.close();
});

test('a grant through a SCIM connector is provisioned by the job runtime, read back, and revoked; a user missing from the provider fails it at once with the provider’s answer', async () => {
  const s = (server = await startScimServer());
  s.addUser('ada@acme.test');
  s.addGroup('gh-readers');
  const at = new Date('2026-03-02T09:00:00.000Z');
  const clock = fixedClock(at);
  const store = await testStore();
  const catalog = new CatalogCache();
  const env = { GITHUB_SCIM_URL: s.url, GITHUB_SCIM_TOKEN: s.token };
  const connectors = connectorSource(
    async (name) => (await catalog.get(store.sql)).connectors.get(name),
    { env, dataDir: tmpdir() },
  );
  try {
    const { sql } = store;
    await sql.query(`INSERT INTO meta (key, value) VALUES ('created_at', $1)`, [at.toISOString()]);
    await sql.query(
      'INSERT INTO config_state (id, config_hash, settings, applied_at) VALUES (1, $1, $2, $3)',
      ['scim-e2e', JSON.stringify(DEFAULT_SETTINGS), at],
    );
    // The account is the identity's email attribute (account_attribute), not its id.
    await sql.query('INSERT INTO connectors (name, type, settings) VALUES ($1, $2, $3)', [
      'scim-github',
      'scim',
      JSON.stringify({
        url: '${GITHUB_SCIM_URL}',
        token: '${GITHUB_SCIM_TOKEN}',
        account_attribute: 'email',
      }),
    ]);
    await sql.query(
      'INSERT INTO apps (id, name, risk, owner, connector) VALUES ($1, $2, $3, $4, $5)',
      ['github', 'GitHub', 'low', 'owner', 'scim-github'],
    );
    await sql.query(
      `INSERT INTO entitlements (id, app, risk, privileged, max_duration, default_duration, standing, kinds,
         requires_ticket, break_glass, approval, licence_tier, target)
       VALUES ('github:read', 'github', 'low', false, NULL, 3600, true, $1, false, false, NULL, NULL, $2)`,
      [['human'], JSON.stringify({ group: 'gh-readers' })],
    );
    for (const [id, email] of [
      ['ada', 'ada@acme.test'],
      ['bob', 'bob@acme.test'],
    ]) {
      await sql.query(
        `INSERT INTO identities (id, kind, status, display_name, manager, attributes, created_at, updated_at)
         VALUES ($1, 'human', 'active', $1, $1, $2, $3, $3)`,
        [id, JSON.stringify({ email }), at],
      );
    }
    const cat = await catalog.get(sql);
    const rows = await sql.query<IdentityRow>(`SELECT * FROM identities ORDER BY id`);
    const [ada, bob] = rows.map(toIdentity);
    const [granted, unknown] = await sql.transaction(async (tx) => {
      const ids: string[] = [];
      // One after the other: each appends to the one audit chain.
      for (const identity of [ada!, bob!]) {
        ids.push(
          await createGrant(tx, clock.now(), 'test', {
            identity,
            entitlement: cat.entitlements.get('github:read')!,
            requestId: null,
            trigger: 'request',
            emergency: false,
            duration: 8 * HOUR,
          }),
        );
      }
      return ids;
    });
    const app = gatehouse({ sql, clock, catalog, connectors, workerId: 'scim-e2e' });

    const applied = await app.sweep();
    const state = async (id: string) =>
      (
        await sql.query<{ state: string; failure: string | null }>(
          'SELECT state, failure FROM grants WHERE id = $1',
          [id],
        )
      )[0]!;
    assert.equal((await state(granted!)).state, 'active', JSON.stringify(applied.failures));
    assert.deepEqual(s.members('gh-readers'), ['ada@acme.test']);

    const missing = await state(unknown!);
    assert.equal(missing.state, 'failed', 'a user the provider does not know is not retried');
    assert.match(missing.failure ?? '', /scim-github.*bob@acme\.test.*no user with that userName/);
    assert.ok(!(missing.failure ?? '').includes(s.token));

    await app.revoke(granted!, 'ada', 'no longer needed', 'cli');
    const revoked = await app.sweep();
    assert.deepEqual(revoked.failures, []);
    assert.equal((await state(granted!)).state, 'revoked');
    assert.deepEqual(s.members('gh-readers'), []);
    const actions = await sql.query<{ action: string }>(
      'SELECT action FROM audit_events WHERE subject = $1 ORDER BY seq',
      [granted],
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
