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
import { ident, postgresConnector } from './postgres.js';
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

function fixture(n: Names, connector: Connector, creating: Connector): ContractFixture {
  return {
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
const open = (name: string, url: string, createAccounts: boolean, dataDir = tmpdir()) =>
  postgresConnector(
    {
      name,
      type: 'postgres',
      settings: { url: '${TARGET_URL}', create_accounts: createAccounts },
    },
    { env: { TARGET_URL: url }, dataDir },
  );

{
  const run = randomBytes(4).toString('hex');
  const prefix = `gh_${run}_`;
  const database = `gatehouse_conn_${run}`;
  const n = names(prefix);
  const opened: Connector[] = [];
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
      return fixture(n, opened[0]!, opened[1]!);
    },
    async () => {
      for (const c of opened) await c.close();
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
      return fixture(n, opened[0]!, opened[1]!);
    },
    async () => {
      for (const c of opened) await c.close();
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
