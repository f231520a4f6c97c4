import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { connectorSource } from '../../connectors/registry.js';
import { ident } from '../../connectors/postgres.js';
import { faultProxy } from '../../testing/fault-proxy.js';
import { configVariant } from '../../testing/config-variant.js';
import { harness } from '../../testing/harness.js';
import { CatalogCache } from '../catalog/catalog.js';
import {
  type Connector,
  type ConnectorSource,
  compareAssignments,
  compareText,
} from '../ports/connector.js';
import { reconcile } from './reconcile.js';

const SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

test('listings and grants are ordered as UTF-8 bytes: code points beyond U+FFFF after U+FFFD, by target then account', () => {
  const words = ['b', 'a', 'ab', '\u{1F600}', '\uFFFD', 'A', '', 'a\u0000'];
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  const expected = [...words].sort((x, y) => Buffer.compare(bytes(x), bytes(y)));
  assert.deepEqual([...words].sort(compareText), expected);
  const listed = [
    { account: 'a', target: { role: 'r2' } },
    { account: 'b', target: { role: 'r1' } },
    { account: 'a', target: { role: 'r1' } },
  ].sort(compareAssignments);
  assert.deepEqual(
    listed.map((a) => `${a.target.role}/${a.account}`),
    ['r1/a', 'r1/b', 'r2/a'],
  );
});

test('the merge finds the same drift whatever the page size of either side, one page at a time', async () => {
  const h = await harness();
  try {
    const db = await h.connectors.get('acme-db');
    await db.apply({ account: 'bob@acme.test', target: { role: 'analytics_reader' } });
    await db.apply({ account: 'zed', target: { role: 'analytics_reader' } });
    await db.apply({ account: 'mallory', target: { role: 'wiki_read' } });
    await db.revoke({ account: 'alice@acme.test', target: { role: 'wiki_read' } });
    await db.revoke({ account: 'sam@acme.test', target: { role: 'wiki_read' } });
    const catalog = await new CatalogCache().get(h.store.sql);
    const run = (pageSize: number) =>
      reconcile(
        {
          sql: h.store.sql,
          catalog,
          connectors: h.connectors,
          now: () => new Date(h.now),
          pageSize,
        },
        { dryRun: true, actor: 'test', trigger: 'manual' },
      );
    const whole = await run(1000);
    const shown = (r: Awaited<ReturnType<typeof run>>) =>
      r.findings.map((f) => `${f.kind} ${f.account} ${f.entitlement}`);
    assert.deepEqual(shown(whole), [
      'unmanaged bob@acme.test analytics:reader',
      'orphaned zed analytics:reader',
      'missing alice@acme.test wiki:read',
      'orphaned mallory wiki:read',
      'missing sam@acme.test wiki:read',
    ]);
    for (const size of [1, 2, 3]) {
      const r = await run(size);
      assert.deepEqual(shown(r), shown(whole), `page size ${size}`);
      assert.deepEqual(r.run.connectors, whole.run.connectors, `page size ${size}`);
    }
  } finally {
    await h.close();
  }
});

async function serverDown(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

test('a target whose connection drops in the middle of its listing makes the run partial: the findings before the failure are kept, and nothing says "no drift"', async (t) => {
  const down = await serverDown();
  if (down) {
    t.skip(`no PostgreSQL server for the target at ${SERVER_URL} (${down})`);
    return;
  }
  const prefix = `gh_r${randomBytes(4).toString('hex')}_`;
  const roles = [`${prefix}r1`, `${prefix}r2`];
  const accounts = [`${prefix}a1`, `${prefix}a2`, `${prefix}a3`];
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  const proxy = await faultProxy({ host: '127.0.0.1', port: 5432 }, 'postgres');
  const h = await harness({ people: false });
  const own = connectorSource([], { env: process.env, dataDir: h.dir });
  try {
    for (const r of [...roles, ...accounts]) await admin.query(`CREATE ROLE ${ident(r)} NOLOGIN`);
    for (const a of accounts) await admin.query(`GRANT ${ident(roles[0]!)} TO ${ident(a)}`);
    await admin.query(`GRANT ${ident(roles[1]!)} TO ${ident(accounts[0]!)}`);
    const dir = configVariant(h.dir, {
      'connectors.yaml': (text) =>
        `${text}- name: srv-db\n  type: postgres\n  url: ${proxy.url}\n  connect_timeout: 2s\n  statement_timeout: 2s\n`,
      'apps/srv.yaml': () =>
        [
          'id: srv',
          'name: Server roles',
          'risk: low',
          'owner: erin@acme.test',
          'connector: srv-db',
          'entitlements:',
          ...roles.flatMap((r, i) => [
            `  - id: srv:e${i}`,
            '    max_duration: 30d',
            `    target: { role: ${r} }`,
          ]),
          '',
        ].join('\n'),
    });
    const applied = await h.cli(['apply', dir]);
    assert.equal(applied.code, 0, applied.stderr);
    const catalog = await new CatalogCache().get(h.store.sql);
    const real = connectorSource([...catalog.connectors.values()], {
      env: process.env,
      dataDir: h.dir,
    });
    // The real connector through the proxy; after its first page the proxy drops every
    // connection and refuses new ones, as a target that goes down mid-listing.
    const connectors: ConnectorSource = {
      async get(name) {
        if (name !== 'srv-db') return h.connectors.get(name);
        const c = await real.get(name);
        const dropping: Connector = {
          name: c.name,
          type: c.type,
          ...(c.capabilities ? { capabilities: c.capabilities } : {}),
          apply: (ref) => c.apply(ref),
          revoke: (ref) => c.revoke(ref),
          readBack: (ref) => c.readBack(ref),
          close: () => c.close(),
          async *listAll(targets, opts) {
            let pages = 0;
            for await (const page of c.listAll(targets, opts)) {
              yield page;
              if (++pages === 1) await proxy.set('refuse');
            }
          },
        };
        return dropping;
      },
    };
    const r = await reconcile(
      { sql: h.store.sql, catalog, connectors, now: () => new Date(h.now), pageSize: 1 },
      { dryRun: false, actor: 'test', trigger: 'manual' },
    );
    await real.closeAll().catch(() => undefined);
    assert.equal(r.run.status, 'partial');
    const srv = r.run.connectors.find((c) => c.connector === 'srv-db')!;
    assert.equal(srv.status, 'failed');
    assert.ok(srv.error, 'the failure is said');
    assert.equal(srv.assignments, 1, 'one page was read before the target went down');
    assert.deepEqual(
      r.findings.map((f) => `${f.connector} ${f.kind} ${f.account}`),
      [`srv-db orphaned ${accounts[0]}`],
    );
    const [run] = await h.store.sql.query<{ status: string }>(
      'SELECT status FROM reconcile_runs WHERE id = $1',
      [r.run.id],
    );
    assert.equal(run?.status, 'partial');
    const [cov] = await h.store.sql.query<{ status: string }>(
      `SELECT status FROM reconcile_coverage WHERE run_id = $1 AND connector = 'srv-db'`,
      [r.run.id],
    );
    assert.equal(cov?.status, 'failed');
  } finally {
    await own.closeAll().catch(() => undefined);
    await proxy.close();
    await h.close();
    for (const r of [...accounts, ...roles])
      await admin.query(`DROP ROLE IF EXISTS ${ident(r)}`).catch(() => undefined);
    await admin.end();
  }
});
