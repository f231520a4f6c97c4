import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Connector } from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { describeConnectorContract, type ContractFixture } from './contract.js';
import {
  MEMBERSHIP_LOOKUPS,
  classify,
  ident,
  postgresConnector,
  postgresModule,
  targetConnectionString,
} from './postgres.js';
import { refusingPort, unresponsiveTarget, type TestTarget } from './test-targets.js';
import { pgliteTemplate } from '../store/pglite-template.js';

const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** One run's names; on a server roles are cluster-wide, so each carries the run's prefix. */
function names(prefix: string) {
  return {
    // Case, spaces and quotes prove that names are quoted, never interpolated.
    roles: [`${prefix}reader`, `${prefix}Odd "Writer"`, `${prefix}other`],
    accounts: [`${prefix}alice@acme.test`, `${prefix}bob o'neil`],
    missingRole: `${prefix}missing`,
    missingAccount: `${prefix}carol`,
  };
}
type Names = ReturnType<typeof names>;

const setupSql = (n: Names) =>
  [...n.roles, ...n.accounts].map((r) => `CREATE ROLE ${ident(r)} NOLOGIN`);

/** Short timeouts, so the fault checks finish quickly. */
const SHORT = { connect_timeout: '1s', statement_timeout: '1s' };

/**
 * The faults the contract checks on every network target: one server that never answers at all,
 * one that logs us in and then never answers a statement, and a port that refuses connections.
 */
async function faults(targets: TestTarget[], opened: Connector[]) {
  const silent = await unresponsiveTarget();
  const stalling = await unresponsiveTarget((socket) => {
    // AuthenticationOk, then ReadyForQuery (idle): the client is logged in; then nothing more.
    socket.once('data', () =>
      socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49])),
    );
  });
  targets.push(silent, stalling);
  const refused = `postgres://gatehouse@127.0.0.1:${await refusingPort()}/x`;
  const unresponsive = [
    await open('pg-silent', silent.url('postgres'), false, tmpdir(), SHORT),
    await open('pg-stalling', stalling.url('postgres'), false, tmpdir(), SHORT),
  ];
  const refusing = await open('pg-refusing', refused, false, tmpdir(), SHORT);
  opened.push(...unresponsive, refusing);
  return { unresponsive, refusing };
}

function fixture(
  n: Names,
  connector: Connector,
  creating: Connector,
  fault: { unresponsive: Connector[]; refusing: Connector },
): ContractFixture {
  return {
    module: postgresModule,
    settings: { url: '${TARGET_URL}', create_accounts: false, ...SHORT },
    faults: fault,
    connector,
    creatingConnector: creating,
    governed: [{ role: n.roles[0]! }, { role: n.roles[1]! }],
    ungoverned: { role: n.roles[2]! },
    missingTarget: { role: n.missingRole },
    accounts: [n.accounts[0]!, n.accounts[1]!],
    missingAccount: n.missingAccount,
  };
}

/** The url goes through ${VAR} as in connectors.yaml. */
const open = (
  name: string,
  url: string,
  createAccounts: boolean,
  dataDir = tmpdir(),
  extra: Record<string, unknown> = {},
) =>
  postgresConnector(
    {
      name,
      type: 'postgres',
      settings: { url: '${TARGET_URL}', create_accounts: createAccounts, ...extra },
    },
    { env: { TARGET_URL: url }, dataDir },
  );

{
  const run = randomBytes(4).toString('hex');
  const prefix = `gh_${run}_`;
  const database = `gatehouse_conn_${run}`;
  const n = names(prefix);
  const opened: Connector[] = [];
  const targets: TestTarget[] = [];
  let admin: pg.Client | undefined;
  describeConnectorContract(
    'postgres (server)',
    async () => {
      const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
      try {
        await client.connect();
      } catch (e) {
        return { skip: `no PostgreSQL server at 127.0.0.1:5432 (${(e as Error).message})` };
      }
      admin = client;
      await admin.query(`CREATE DATABASE ${ident(database)}`);
      for (const s of setupSql(n)) await admin.query(s);
      const u = new URL(ADMIN_URL);
      u.pathname = `/${database}`;
      opened.push(await open('pg-server', u.toString(), false));
      opened.push(await open('pg-server-creating', u.toString(), true));
      return fixture(n, opened[0]!, opened[1]!, await faults(targets, opened));
    },
    async () => {
      for (const c of opened) await c.close();
      for (const t of targets) await t.close();
      if (!admin) return;
      try {
        const { rows } = await admin.query<{ rolname: string }>(
          'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)',
          [prefix],
        );
        for (const r of rows) await admin.query(`DROP ROLE ${ident(r.rolname)}`);
        await admin.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  );
}

{
  const n = names('gh_');
  let dataDir: string | undefined;
  const opened: Connector[] = [];
  const targets: TestTarget[] = [];
  describeConnectorContract(
    'postgres (embedded)',
    async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-conn-'));
      cpSync(
        await pgliteTemplate('target', setupSql(n).join(';\n'), async (db) => {
          for (const s of setupSql(n)) await db.query(s);
        }),
        join(dataDir, 'target'),
        { recursive: true },
      );
      opened.push(await open('pg-embedded', 'embedded', false, dataDir));
      opened.push(await open('pg-embedded-creating', 'embedded', true, dataDir));
      assert.ok(
        existsSync(join(dataDir, 'target', 'PG_VERSION')),
        'the target is <dataDir>/target',
      );
      return fixture(n, opened[0]!, opened[1]!, await faults(targets, opened));
    },
    async () => {
      for (const c of opened) await c.close();
      for (const t of targets) await t.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  );
}

test('identifiers are double-quoted with embedded double quotes doubled', () => {
  assert.equal(ident('analytics_reader'), '"analytics_reader"');
  assert.equal(ident('x"; DROP ROLE postgres; --'), '"x""; DROP ROLE postgres; --"');
});

test('a connection failure names the connector and the host but never the password', async () => {
  const c = await open('pg-down', 'postgres://gatehouse:s3cr%40t-pw@127.0.0.1:1/x', false);
  try {
    const err = await c.readBack({ account: 'a', target: { role: 'r' } }).catch((e) => e);
    assert.ok(err instanceof TargetError, String(err));
    assert.match(err.message, /^connector pg-down: cannot reach .*127\.0\.0\.1:1/);
    assert.ok(!err.message.includes('s3cr'), err.message);
  } finally {
    await c.close();
  }
});

test('a url that is neither postgres:// nor embedded is refused without echoing it', async () => {
  await assert.rejects(
    open('pg-bad', 'mysql://root:hunter2@db/x', false),
    (e: Error) => e instanceof InputError && /pg-bad/.test(e.message) && !/hunter2/.test(e.message),
  );
});

test('create_accounts that is not a boolean is refused', async () => {
  await assert.rejects(
    postgresConnector(
      { name: 'pg-x', type: 'postgres', settings: { url: 'embedded', create_accounts: 'yes' } },
      { env: {}, dataDir: tmpdir() },
    ),
    InputError,
  );
});

test('a role name longer than PostgreSQL keeps is refused rather than truncated', async () => {
  const c = await open('pg-long', 'postgres://gatehouse@127.0.0.1:1/x', false);
  try {
    await assert.rejects(c.apply({ account: 'a', target: { role: 'r'.repeat(64) } }), /63 bytes/);
  } finally {
    await c.close();
  }
});

test('PostgreSQL errors are classified: what waiting cannot fix is permanent, the rest retried', () => {
  const server = (code: string) => Object.assign(new Error(code), { code, severity: 'ERROR' });
  const cases: [unknown, string, boolean][] = [
    [server('42704'), 'target_not_found', false], // undefined role
    [server('3D000'), 'target_not_found', false], // database does not exist
    [server('42501'), 'target_forbidden', false], // insufficient privilege
    [server('28P01'), 'target_auth_failed', false], // invalid password
    [server('28000'), 'target_auth_failed', false],
    [server('42601'), 'target_rejected', false], // syntax error
    [server('57P01'), 'target_unavailable', true], // admin shutdown
    [server('57P03'), 'target_unavailable', true], // cannot connect now
    [server('08006'), 'target_unavailable', true],
    [server('53300'), 'target_busy', true], // too many connections
    [server('57014'), 'target_timeout', true], // statement_timeout
    [server('40P01'), 'target_conflict', true], // deadlock
    [server('XX000'), 'target_error', true], // unknown: retried, never dropped
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'target_unreachable',
      true,
    ],
    [
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      'target_unreachable',
      true,
    ],
    [new Error('Connection terminated unexpectedly'), 'target_unreachable', true],
    [new Error('Connection terminated due to connection timeout'), 'target_timeout', true],
    [new Error('Query read timeout'), 'target_timeout', true],
  ];
  for (const [e, code, retryable] of cases) {
    const c = classify(e);
    assert.deepEqual([c.code, c.retryable], [code, retryable], String((e as Error).message));
  }
});

test('timeouts and other settings are checked against the postgres settings schema', async () => {
  const build = (settings: Record<string, unknown>) =>
    postgresConnector({ name: 'pg-x', type: 'postgres', settings }, { env: {}, dataDir: tmpdir() });
  await assert.rejects(build({ url: 'embedded', connect_timeout: 5 }), (e: Error) => {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, /^connector pg-x: connect_timeout: /);
    return true;
  });
  await assert.rejects(build({ url: 'embedded', statment_timeout: '5s' }), (e: Error) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.message, 'connector pg-x: unknown setting "statment_timeout"');
    return true;
  });
  await assert.rejects(build({ url: 'embedded', statement_timeout: '2h' }), /at most 1h/);
  // The keys every type shares are not the module's to refuse.
  const parsed = postgresModule.settings.safeParse({ url: 'embedded', connect_timeout: '2s' });
  assert.ok(parsed.success);
});

test('on a server, a login without the privilege to grant and a missing database are permanent', async (t) => {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (e) {
    t.skip(`no PostgreSQL server at 127.0.0.1:5432 (${(e as Error).message})`);
    return;
  }
  const prefix = `gh_${randomBytes(4).toString('hex')}_`;
  const [login, role, account] = ['login', 'role', 'account'].map((s) => prefix + s) as [
    string,
    string,
    string,
  ];
  const opened: Connector[] = [];
  try {
    await admin.query(`CREATE ROLE ${ident(login)} LOGIN`);
    for (const r of [role, account]) await admin.query(`CREATE ROLE ${ident(r)} NOLOGIN`);
    const u = new URL(ADMIN_URL);
    u.username = login;
    const limited = await open('pg-limited', u.toString(), false);
    opened.push(limited);
    const denied = await limited.apply({ account, target: { role } }).catch((e: unknown) => e);
    assert.ok(denied instanceof TargetError, String(denied));
    assert.equal(denied.code, 'target_forbidden', denied.message);
    assert.equal(denied.retryable, false);

    u.username = 'postgres';
    u.pathname = `/${prefix}no_such_database`;
    const nowhere = await open('pg-nowhere', u.toString(), false);
    opened.push(nowhere);
    const missing = await nowhere.readBack({ account, target: { role } }).catch((e: unknown) => e);
    assert.ok(missing instanceof TargetError, String(missing));
    assert.equal(missing.code, 'target_not_found', missing.message);
    assert.equal(missing.retryable, false);
  } finally {
    for (const c of opened) await c.close();
    for (const r of [account, role, login]) await admin.query(`DROP ROLE IF EXISTS ${ident(r)}`);
    await admin.end();
  }
});

test("a target's membership look-ups use its catalog's indexes whatever its statistics say", async (t) => {
  // The target's URL with session options of its own: ours are added to them, not lost.
  const u = new URL(ADMIN_URL);
  u.searchParams.set('options', '-c search_path=pg_catalog');
  const client = new pg.Client({
    connectionString: targetConnectionString(u),
    connectionTimeoutMillis: 3000,
  });
  try {
    await client.connect();
  } catch (e) {
    t.skip(`no PostgreSQL server at 127.0.0.1:5432 (${(e as Error).message})`);
    return;
  }
  try {
    const setting = async (name: string) =>
      (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
    assert.equal(await setting('enable_seqscan'), 'off');
    assert.equal(await setting('search_path'), 'pg_catalog');
    // A catalog vacuumed while small says a few rows: planned on that, each check walked
    // pg_auth_members and pg_authid (provision at half its rate, BENCHMARKS.md 2026-12-06 night).
    for (const [name, [text, params]] of Object.entries(MEMBERSHIP_LOOKUPS())) {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.doesNotMatch(plan, /Seq Scan on pg_(auth_members|authid)/, `${name}:\n${plan}`);
      // Either of the catalog's two indexes on (role, member) answers a probe of both columns;
      // which one the server picks follows the shared catalog's statistics (CI, 2026-12-07).
      assert.match(plan, /pg_auth_members_(role_member|member_role)_index/, `${name}:\n${plan}`);
    }
  } finally {
    await client.end();
  }
});
