import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { configVariant } from '../../testing/config-variant.js';
import { harness, type Harness } from '../../testing/harness.js';
import { scratchPostgres, scratchPostgresMissing } from '../../testing/scratch-postgres.js';
import { postgresConnector } from '../../connectors/postgres.js';
import { refusingPort, unresponsiveTarget } from '../../connectors/test-targets.js';
import { CatalogCache } from '../catalog/catalog.js';
import { TargetError } from '../errors.js';
import type { Connector } from '../ports/connector.js';
import { issueCredential } from './issue.js';

const OWNER = 'alice@acme.test';
const SVC = 'svc:ci-deployer';

/** Every row of every table of the store, as text: where a secret must not be. */
async function storeText(h: Harness): Promise<string> {
  const tables = await h.store.sql.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const parts: string[] = [];
  for (const { name } of tables) {
    const rows = await h.store.sql.query<{ t: string }>(`SELECT t::text AS t FROM "${name}" t`);
    parts.push(...rows.map((r) => r.t));
  }
  return parts.join('\n');
}

async function login(
  host: string,
  port: number,
  user: string,
  password: string,
): Promise<{ ok: true; member: boolean } | { ok: false; error: string }> {
  const c = new pg.Client({ host, port, user, password, database: 'postgres' });
  try {
    await c.connect();
    const r = await c.query<{ m: boolean }>(
      `SELECT pg_has_role(current_user, 'vault_reader', 'member') AS m`,
    );
    return { ok: true, member: r.rows[0]?.m === true };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  } finally {
    await c.end().catch(() => undefined);
  }
}

test("a PostgreSQL target issues a non-human identity's credential to its owner once: the password logs in, stops at its valid-until, replaces the one before, and is in no row, event, log or target statement log", async (t) => {
  const missing = scratchPostgresMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const server = await scratchPostgres();
  const h = await harness();
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE ROLE vault_reader NOLOGIN');
    await admin.end();
    const dir = configVariant(h.dir, {
      'connectors.yaml': (text) =>
        `${text}- name: vault-db\n  type: postgres\n  url: \${GH_TEST_VAULT_URL}\n  create_accounts: true\n`,
      'apps/vault.yaml': () =>
        [
          'id: vault',
          'name: Secrets vault',
          'risk: low',
          `owner: ${OWNER}`,
          'connector: vault-db',
          'entitlements:',
          '  - id: vault:reader',
          '    risk: low',
          '    max_duration: 30d',
          '    kinds: [human, service_account]',
          '    credential: { rotation: 1h }',
          '    target: { role: vault_reader }',
          '',
        ].join('\n'),
    });
    process.env.GH_TEST_VAULT_URL = server.url;
    const applied = await h.cli(['apply', dir]);
    assert.equal(applied.code, 0, applied.stderr);

    // The target's clock is real: the engine's is moved to the real time, 3 hours back, so the
    // first credential is already past its valid-until when the server checks it.
    const real = Date.now();
    const at = (hours: number) => new Date(real + hours * 3600_000).toISOString();
    h.now = at(-3);
    const req = await h.cli([
      'request',
      'vault:reader',
      '--for',
      SVC,
      '--duration',
      '8h',
      '--reason',
      'deploys from CI runners',
      '--as',
      OWNER,
    ]);
    assert.equal(req.code, 0, req.stderr);
    const grant = (req.json as { grant: { id: string } | null }).grant?.id;
    assert.ok(grant, `the request was granted: ${req.stdout}`);
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);

    // Not the owner, not a non-human identity's grant, not an entitlement that issues one.
    const bob = await h.cli(['grants', 'credential', grant, '--as', 'bob@acme.test']);
    assert.equal(bob.code, 2, bob.stdout);
    assert.match(bob.stderr, /only alice@acme\.test may/);

    const expired = await h.cli(['grants', 'credential', grant, '--as', OWNER]);
    assert.equal(expired.code, 0, expired.stderr);
    const first = expired.json as {
      credential: { id: string; valid_until: string; fingerprint: string; account: string };
      secret: string;
    };
    assert.equal(first.credential.account, SVC);
    assert.equal(first.credential.valid_until, at(-2), 'valid for the rotation period, 1h');
    const refused = await login(server.host, server.port, SVC, first.secret);
    assert.equal(refused.ok, false, 'a password past its VALID UNTIL is refused by the server');

    h.now = at(0);
    const issued = await h.cli(['grants', 'credential', grant, '--as', OWNER], { text: true });
    assert.equal(issued.code, 0, issued.stderr);
    const secret = /secret \(shown once, stored nowhere\): (\S+)/.exec(issued.stdout)?.[1];
    assert.ok(secret, issued.stdout);
    assert.deepEqual(await login(server.host, server.port, SVC, secret), {
      ok: true,
      member: true,
    });
    const wrong = await login(server.host, server.port, SVC, `${secret}x`);
    assert.equal(wrong.ok, false, 'the server really checks the password');

    // The grant's own expiry bounds a credential when it comes before the rotation period.
    const [g] = await h.store.sql.query<{ expires_at: Date }>(
      'SELECT expires_at FROM grants WHERE id = $1',
      [grant],
    );
    assert.ok(g && g.expires_at.getTime() > real, 'the grant is still live');

    const rows = await h.store.sql.query<{ state: string; fingerprint: string }>(
      'SELECT state, fingerprint FROM credentials WHERE grant_id = $1 ORDER BY requested_at',
      [grant],
    );
    assert.deepEqual(
      rows.map((r) => r.state),
      ['superseded', 'issued'],
    );
    assert.equal(rows[0]?.fingerprint, first.credential.fingerprint);

    const trace = await h.cli(['audit', 'trace', grant], { text: true });
    assert.match(trace.stdout, /credential\.issued/);
    const report = await h.cli(['report']);
    assert.equal(
      (report.json as { credentials_past_rotation: number }).credentials_past_rotation,
      0,
    );
    h.now = at(1.5);
    const later = await h.cli(['report']);
    assert.equal(
      (later.json as { credentials_past_rotation: number }).credentials_past_rotation,
      1,
      'the live credential is past its 1h rotation',
    );

    const everything = await storeText(h);
    const outputs = [bob, req, swept, trace, report, later].map((r) => r.stdout + r.stderr);
    for (const s of [first.secret, secret]) {
      assert.ok(!everything.includes(s), 'the secret is in no row of the store');
      assert.ok(!outputs.some((o) => o.includes(s)), 'the secret is in no other output');
      assert.ok(!server.log().includes(s), "the secret is not in the target's statement log");
    }
    assert.match(server.log(), /ALTER ROLE .* PASSWORD 'SCRAM-SHA-256\$4096:/);
  } finally {
    delete process.env.GH_TEST_VAULT_URL;
    await h.close();
    await server.stop();
  }
});

test('a credential is refused for an entitlement that issues none, for a person, for an unknown grant, and while another is being issued for the same grant', async () => {
  const h = await harness();
  try {
    const grantFor = async (who: string, ent: string, as: string) => {
      const r = await h.cli([
        'request',
        ent,
        '--for',
        who,
        '--duration',
        '8h',
        '--reason',
        'nightly data exports',
        '--as',
        as,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const id = (r.json as { grant: { id: string } | null }).grant?.id;
      assert.ok(id, `${ent} for ${who} was granted: ${r.stdout}`);
      return id;
    };
    const person = await grantFor('bob@acme.test', 'analytics:reader', 'bob@acme.test');
    const svc = await grantFor(SVC, 'analytics:reader', OWNER);
    assert.equal((await h.cli(['sweep'])).code, 0);

    const none = await h.cli(['grants', 'credential', svc, '--as', OWNER]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /entitlement analytics:reader issues no credentials/);

    const dir = configVariant(h.dir, {
      'apps/analytics.yaml': (text) =>
        text.replace(
          '    kinds: [human, service_account, ai_agent]\n',
          '    kinds: [human, service_account, ai_agent]\n    credential: { rotation: 30d }\n',
        ),
    });
    const applied = await h.cli(['apply', dir]);
    assert.equal(applied.code, 0, applied.stderr);

    const human = await h.cli(['grants', 'credential', person, '--as', 'bob@acme.test']);
    assert.equal(human.code, 1);
    assert.match(human.stderr, /is a person: credentials are issued for non-human identities only/);

    const unknown = await h.cli(['grants', 'credential', 'grt_nope', '--as', OWNER]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown grant "grt_nope"/);

    // Two at once for one grant: one issues, the other is told one is in flight (or, if it came
    // second, issues after it and supersedes it); never two passwords racing in the target.
    const [a, b] = await Promise.all([
      h.cli(['grants', 'credential', svc, '--as', OWNER]),
      h.cli(['grants', 'credential', svc, '--as', OWNER]),
    ]);
    const codes = [a.code, b.code].sort();
    assert.ok(codes[0] === 0, `${a.stderr} ${b.stderr}`);
    for (const r of [a, b]) if (r.code !== 0) assert.match(r.stderr, /is being issued/);
    const live = await h.store.sql.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM credentials WHERE grant_id = $1 AND state = 'issued'`,
      [svc],
    );
    assert.equal(Number(live[0]?.n), 1, 'one live credential per grant');
  } finally {
    await h.close();
  }
});

test('a credential asked of a target that hangs or is stopped ends failed within the connector timeout, with a clear error and the secret nowhere', async () => {
  const stalling = await unresponsiveTarget((socket) => {
    // AuthenticationOk, then ReadyForQuery (idle): logged in; then no statement is ever answered.
    socket.once('data', () =>
      socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49])),
    );
  });
  const silent = await unresponsiveTarget();
  const stopped = `postgres://gatehouse@127.0.0.1:${await refusingPort()}/x`;
  const h = await harness();
  const opened: Connector[] = [];
  try {
    const r = await h.cli([
      'request',
      'analytics:reader',
      '--for',
      SVC,
      '--duration',
      '8h',
      '--reason',
      'nightly data exports',
      '--as',
      OWNER,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const grant = (r.json as { grant: { id: string } | null }).grant?.id;
    assert.ok(grant, r.stdout);
    assert.equal((await h.cli(['sweep'])).code, 0);
    const dir = configVariant(h.dir, {
      'apps/analytics.yaml': (text) =>
        text.replace(
          '    kinds: [human, service_account, ai_agent]\n',
          '    kinds: [human, service_account, ai_agent]\n    credential: { rotation: 30d }\n',
        ),
    });
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const catalog = await new CatalogCache().get(h.store.sql);

    // The grant's target, acme-db, is now a real postgres connector at a url that hangs after
    // login, never answers at all, or refuses; its timeouts are 1s.
    const secrets: string[] = [];
    const failures: TargetError[] = [];
    for (const [url, code] of [
      [stalling.url('postgres'), 'target_timeout'],
      [silent.url('postgres'), 'target_timeout'],
      [stopped, 'target_unreachable'],
    ] as const) {
      const target = await postgresConnector(
        {
          name: 'acme-db',
          type: 'postgres',
          settings: {
            url: '${TARGET_URL}',
            create_accounts: true,
            connect_timeout: '1s',
            statement_timeout: '1s',
          },
        },
        { env: { TARGET_URL: url }, dataDir: h.dir },
      );
      opened.push(target);
      // The connector as it is, but keeping the secret it was asked to set, to look for it after.
      const watched: Connector = Object.assign(Object.create(target) as Connector, {
        issueCredential: (
          account: Parameters<NonNullable<Connector['issueCredential']>>[0],
          credential: { secret: string; validUntil: Date },
        ) => {
          secrets.push(credential.secret);
          return target.issueCredential!(account, credential);
        },
      });
      const error: unknown = await issueCredential(
        {
          sql: h.store.sql,
          catalog,
          connectors: { get: async () => watched },
          now: () => new Date(h.now),
        },
        { grantId: grant, actor: OWNER, via: 'cli' },
      ).then(
        () => assert.fail(`${url}: issued against a target that cannot answer`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TargetError, String(error));
      assert.equal(error.code, code, `${url}: ${error.message}`);
      failures.push(error);
    }
    assert.equal(secrets.length, 3, 'each attempt reached the target');
    const rows = await h.store.sql.query<{ state: string; error: string | null }>(
      'SELECT state, error FROM credentials WHERE grant_id = $1 ORDER BY requested_at, id',
      [grant],
    );
    assert.deepEqual(
      rows.map((c) => c.state),
      ['failed', 'failed', 'failed'],
      'each attempt is a visible failed state, none left issuing',
    );
    for (const c of rows) assert.ok(c.error, 'with the error it met');
    const [events] = await h.store.sql.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM audit_events WHERE action = 'credential.failed'`,
    );
    assert.equal(Number(events?.n), 3);
    const everything = await storeText(h);
    for (const secret of secrets) {
      assert.ok(!everything.includes(secret), 'the secret is in no row of the store');
      assert.ok(!failures.some((e) => JSON.stringify([e.message, e]).includes(secret)));
    }
  } finally {
    for (const c of opened) await c.close();
    await h.close();
    await stalling.close();
    await silent.close();
  }
});
