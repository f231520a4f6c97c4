import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, PEOPLE_HEADER, demoPeople, harness } from '../testing/harness.js';

describe('gatehouse token', () => {
  let h: Harness;
  before(async () => {
    const cfg = configVariant(mkdtempSync(join(tmpdir(), 'gatehouse-tok-')), {
      'identities.csv': (t) =>
        `${t.trimEnd()}\nsvc:orphan,service_account,active,Orphan job,engineering,,,\n`,
    });
    h = await harness({ config: cfg });
  });
  after(() => h.close());

  test('token create prints the secret once, keeps only its SHA-256, and audits the creation without it', async () => {
    const made = await h.cli([
      'token',
      'create',
      '--identity',
      'alice@acme.test',
      '--scopes',
      'read,request',
      '--as',
      'gina@acme.test',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const t = made.json as {
      id: string;
      token: string;
      identity: string;
      scopes: string[];
      expires_at: string;
    };
    assert.deepEqual(Object.keys(t).sort(), ['expires_at', 'id', 'identity', 'scopes', 'token']);
    assert.deepEqual(t.scopes, ['read', 'request']);
    assert.equal(
      Date.parse(t.expires_at) - Date.parse(h.now),
      90 * 86400_000,
      'API.md: 90 days unless asked',
    );
    const [row] = await h.store.sql.query<{ secret_hash: Uint8Array; created_by: string }>(
      'SELECT secret_hash, created_by FROM api_tokens WHERE id = $1',
      [t.id],
    );
    assert.equal(
      Buffer.from(row!.secret_hash).toString('hex'),
      createHash('sha256').update(t.token).digest('hex'),
    );
    assert.equal(row!.created_by, 'gina@acme.test');
    const events = await h.store.sql.query<{ action: string; details: object }>(
      `SELECT action, details FROM audit_events WHERE subject = $1`,
      [t.id],
    );
    assert.deepEqual(
      events.map((e) => e.action),
      ['token.created'],
    );
    // The secret is base64url, which may itself hold '_': everything after the id part.
    const secret = t.token.split('_').slice(2).join('_');
    assert.equal(secret.length, 43);
    assert.ok(!JSON.stringify(events).includes(secret), 'the secret is not in the audit trail');

    const text = await h.cli(
      ['token', 'create', '--identity', 'bob@acme.test', '--scopes', 'read', '--expires', '7d'],
      { text: true },
    );
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^gh_[0-9a-f]{16}_\S{43}$/m);
    assert.match(text.stdout, /only time the token is shown/);

    const listed = await h.cli(['token', 'list']);
    assert.equal(listed.code, 0);
    assert.ok(listed.json.tokens.some((x: { id: string }) => x.id === t.id));
    assert.ok(!listed.stdout.includes(secret) && !listed.stdout.includes('secret_hash'));

    const revoked = await h.cli(['token', 'revoke', t.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.json.revoked_at, h.now);
    const twice = await h.cli(['token', 'revoke', t.id]);
    assert.equal(twice.code, 1);
    assert.equal(twice.json.error.code, 'token_already_revoked');
    const [ev] = await h.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events WHERE subject = $1 AND action = 'token.revoked'`,
      [t.id],
    );
    assert.equal(ev!.n, 1);
  });

  test('a token is for an existing, active identity, and a non-human one needs an active owner; bad scopes and expiries name the option', async () => {
    const create = (identity: string, scopes = 'read', extra: string[] = []) =>
      h.cli(['token', 'create', '--identity', identity, '--scopes', scopes, ...extra]);
    const owned = await create('svc:ci-deployer', 'request');
    assert.equal(owned.code, 0, owned.stderr);
    const orphan = await create('svc:orphan');
    assert.equal(orphan.code, 1);
    assert.equal(orphan.json.error.code, 'token_identity_unowned');
    const unknown = await create('nobody@acme.test');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.json.error.code, 'not_found');
    const scope = await create('alice@acme.test', 'read,sudo');
    assert.equal(scope.code, 1);
    assert.match(scope.stderr, /scopes: "sudo" is not a scope/);
    const long = await create('alice@acme.test', 'read', ['--expires', '400d']);
    assert.equal(long.code, 1);
    assert.equal(long.json.error.field, 'expires');

    const people = demoPeople().map((l) =>
      l.startsWith('dan@acme.test,') ? l.replace(',active,', ',terminated,') : l,
    );
    assert.equal((await h.sync([PEOPLE_HEADER, ...people], ['--kinds', 'human'])).code, 0);
    const gone = await create('dan@acme.test');
    assert.equal(gone.code, 1);
    assert.equal(gone.json.error.code, 'token_identity_inactive');
  });
});
