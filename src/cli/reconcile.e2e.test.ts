import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';

const HOUR = 3600;

interface FindingJson {
  id: string | null;
  connector: string;
  kind: string;
  identity: string | null;
  entitlement: string | null;
  account: string;
  grant: string | null;
  ticket: null;
  action: string;
}

/** The findings of a run as sorted `kind identity|account entitlement action` lines. */
const lines = (findings: FindingJson[]) =>
  findings.map((f) => `${f.kind} ${f.identity ?? f.account} ${f.entitlement} ${f.action}`).sort();

/** connectors.yaml of the demo with `reconcile:` set on acme-db (and optional extra entries). */
const withReconcile = (
  h: Harness,
  modes: string,
  extra: Record<string, (t: string) => string> = {},
) =>
  configVariant(h.dir, {
    'connectors.yaml': (t) => `${t}  reconcile: { ${modes} }\n`,
    ...extra,
  });

async function count(h: Harness, table: string): Promise<number> {
  const [r] = await h.store.sql.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(r?.n ?? 0);
}

/**
 * Sweeps until no grant waits on its target. On a server a sweep can return with some of its
 * applies not yet recorded (seen on main too); the record, not the target, is what lags.
 */
async function settle(h: Harness): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const [r] = await h.store.sql.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM grants WHERE state IN ('provisioning', 'revoking')`,
    );
    if (Number(r?.n ?? 0) === 0) return;
    assert.equal((await h.cli(['sweep'])).code, 0);
    await new Promise((done) => setTimeout(done, 100));
  }
  assert.fail('grants still waiting on the target after 20 sweeps');
}

async function grantOf(h: Harness, identity: string, entitlement: string) {
  const listed = await h.cli(['grants', '--identity', identity]);
  return listed.json.grants.find((g: { entitlement: string }) => g.entitlement === entitlement);
}

/**
 * Drift made behind Gatehouse's back in the demo's real PostgreSQL target: access granted
 * without a grant (Bob, analytics_reader), removed although granted (Alice's wiki_read), held by
 * an account no identity has (mallory), and back after a verified revocation (Dan's gh_read).
 */
async function makeDrift(h: Harness): Promise<void> {
  const db = await h.connectors.get('acme-db');
  await db.apply({ account: 'bob@acme.test', target: { role: 'analytics_reader' } });
  await db.revoke({ account: 'alice@acme.test', target: { role: 'wiki_read' } });
  await db.apply({ account: 'mallory', target: { role: 'wiki_edit' } });
  const dan = await grantOf(h, 'dan@acme.test', 'github:read');
  assert.equal(dan.state, 'active');
  const revoked = await h.cli([
    'revoke',
    dan.id,
    '--reason',
    'left the project',
    '--as',
    'dan@acme.test',
  ]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((await h.cli(['sweep'])).code, 0);
  await settle(h);
  assert.equal((await grantOf(h, 'dan@acme.test', 'github:read')).state, 'revoked');
  await db.apply({ account: 'dan@acme.test', target: { role: 'gh_read' } });
}

const DRIFT = [
  'missing alice@acme.test wiki:read',
  'orphaned mallory wiki:edit',
  'revocation_failed dan@acme.test github:read',
  'unmanaged bob@acme.test analytics:reader',
];

describe('reconcile against the demo target', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
    await settle(h);
  });
  after(() => h.close());

  test('a target that matches the record reconciles complete, with every assignment merged and no findings', async () => {
    const r = await h.cli(['reconcile']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.run.status, 'complete');
    assert.match(r.json.run.id, /^rec_/);
    assert.deepEqual(r.json.findings, []);
    const [db] = r.json.run.connectors;
    assert.equal(db.connector, 'acme-db');
    assert.equal(db.status, 'complete');
    assert.ok(db.assignments > 10, `${db.assignments} assignments`);
    assert.equal(db.assignments, db.grants, 'every grant is held and nothing else');
    const report = await h.cli(['report']);
    assert.deepEqual(report.json.findings_by_kind, {
      unmanaged: 0,
      missing: 0,
      revocation_failed: 0,
      orphaned: 0,
      ticket_done_not_verified: 0,
      ticket_closed_access_present: 0,
      ticket_cancelled_access_present: 0,
    });
  });

  test('a dry run finds each kind of drift and writes nothing: no run, finding, job or audit event', async () => {
    await makeDrift(h);
    const before = await Promise.all(
      ['reconcile_runs', 'reconcile_findings', 'jobs', 'audit_events', 'grants'].map((t) =>
        count(h, t),
      ),
    );
    const r = await h.cli(['reconcile', 'acme-db', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.run.id, null);
    assert.equal(r.json.run.dry_run, true);
    assert.deepEqual(
      lines(r.json.findings),
      DRIFT.map((d) => `${d} reported`),
    );
    const after = await Promise.all(
      ['reconcile_runs', 'reconcile_findings', 'jobs', 'audit_events', 'grants'].map((t) =>
        count(h, t),
      ),
    );
    assert.deepEqual(after, before);
  });

  test('in report mode every finding is recorded with its audit event and counted in report, and nothing changes in the target', async () => {
    const r = await h.cli(['reconcile']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(r.json.findings),
      DRIFT.map((d) => `${d} reported`),
    );
    for (const f of r.json.findings as FindingJson[]) {
      assert.match(f.id!, /^fnd_/);
      assert.equal(f.connector, 'acme-db');
      assert.equal(f.ticket, null);
    }
    const report = await h.cli(['report']);
    assert.deepEqual(report.json.findings_by_kind, {
      unmanaged: 1,
      missing: 1,
      revocation_failed: 1,
      orphaned: 1,
      ticket_done_not_verified: 0,
      ticket_closed_access_present: 0,
      ticket_cancelled_access_present: 0,
    });
    const trace = await h.cli(['audit', 'trace', r.json.run.id]);
    const actions = trace.json.events.map((e: { action: string }) => e.action);
    assert.equal(actions.filter((a: string) => a === 'reconcile.finding').length, 4);
    assert.equal(actions.at(-1), 'reconcile.completed');
    assert.ok((await h.members('analytics_reader')).includes('bob@acme.test'));
    assert.ok(!(await h.members('wiki_read')).includes('alice@acme.test'));
    assert.equal((await h.cli(['audit', 'verify'])).json.ok, true);
  });

  test('in remediate mode each finding queues its fix in its transaction, and a sweep makes the target match the record', async () => {
    const dir = withReconcile(
      h,
      'unmanaged: remediate, missing: remediate, revocation_failed: remediate, orphaned: remediate',
    );
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const r = await h.cli(['reconcile', 'acme-db']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      lines(r.json.findings),
      DRIFT.map((d) => `${d} remediated`),
    );
    const trace = await h.cli(['audit', 'trace', r.json.run.id]);
    assert.equal(
      trace.json.events.filter((e: { action: string }) => e.action === 'reconcile.remediated')
        .length,
      4,
    );
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    await settle(h);
    assert.ok(!(await h.members('analytics_reader')).includes('bob@acme.test'));
    assert.ok((await h.members('wiki_read')).includes('alice@acme.test'));
    assert.ok(!(await h.members('wiki_edit')).includes('mallory'));
    assert.ok(!(await h.members('gh_read')).includes('dan@acme.test'));
    const again = await h.cli(['reconcile']);
    assert.deepEqual(again.json.findings, []);
    assert.deepEqual((await h.cli(['report'])).json.findings_by_kind, {
      unmanaged: 0,
      missing: 0,
      revocation_failed: 0,
      orphaned: 0,
      ticket_done_not_verified: 0,
      ticket_closed_access_present: 0,
      ticket_cancelled_access_present: 0,
    });
    assert.equal((await h.cli(['audit', 'verify'])).json.ok, true);
  });

  test('in adopt mode unmanaged access becomes a grant with an expiry and a review item for the app owner', async () => {
    const dir = withReconcile(h, 'unmanaged: adopt');
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const db = await h.connectors.get('acme-db');
    await db.apply({ account: 'frank@acme.test', target: { role: 'analytics_reader' } });
    const r = await h.cli(['reconcile']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.json.findings), [
      'unmanaged frank@acme.test analytics:reader adopted',
    ]);
    const g = await grantOf(h, 'frank@acme.test', 'analytics:reader');
    assert.equal(g.id, r.json.findings[0].grant);
    assert.equal(g.state, 'active');
    assert.equal(g.trigger, 'adopted');
    // The entitlement's default duration (7d), from now.
    assert.equal(
      new Date(g.expires_at).getTime() - new Date(h.now).getTime(),
      7 * 24 * HOUR * 1000,
    );
    const [item] = await h.store.sql.query<{ kind: string; reviewers: string[]; grant_id: string }>(
      `SELECT kind, reviewers, grant_id FROM review_items WHERE kind = 'adopted'`,
    );
    assert.deepEqual(item, { kind: 'adopted', reviewers: ['erin@acme.test'], grant_id: g.id });
    assert.deepEqual((await h.cli(['reconcile'])).json.findings, []);
  });

  test('a target that fails makes the run partial and exit 3, and keeps what the others found', async () => {
    const dir = withReconcile(h, 'unmanaged: report', {
      'connectors.yaml': (t) =>
        `${t}- name: down-db\n  type: postgres\n  url: postgres://gatehouse@127.0.0.1:1/none\n  connect_timeout: 2s\n`,
      'apps/legacy.yaml': () =>
        [
          'id: legacy',
          'name: Legacy wiki',
          'risk: low',
          'owner: erin@acme.test',
          'connector: down-db',
          'entitlements:',
          '  - id: legacy:admin',
          '    max_duration: 30d',
          '    target: { role: legacy_admin }',
          '',
        ].join('\n'),
    });
    const applied = await h.cli(['apply', dir]);
    assert.equal(applied.code, 0, applied.stderr);
    const db = await h.connectors.get('acme-db');
    await db.apply({ account: 'grace@acme.test', target: { role: 'analytics_reader' } });
    const r = await h.cli(['reconcile']);
    assert.equal(r.code, 3);
    assert.equal(r.json.run.status, 'partial');
    const by = Object.fromEntries(
      r.json.run.connectors.map((c: { connector: string }) => [c.connector, c]),
    );
    assert.equal(by['acme-db'].status, 'complete');
    assert.equal(by['down-db'].status, 'failed');
    assert.match(by['down-db'].error, /127\.0\.0\.1:1/);
    assert.deepEqual(lines(r.json.findings), [
      'unmanaged grace@acme.test analytics:reader reported',
    ]);
    const text = await h.cli(['reconcile', '--dry-run'], { text: true });
    assert.match(text.stdout, /down-db: failed/);
  });

  test('a connector that cannot list its target is reported as not covered, never as clean', async () => {
    const dir = configVariant(h.dir, {
      'connectors.yaml': (t) => `${t}- name: helpdesk\n  type: manual\n`,
      'apps/badges.yaml': () =>
        [
          'id: badges',
          'name: Door badges',
          'risk: low',
          'owner: erin@acme.test',
          'connector: helpdesk',
          'entitlements:',
          '  - id: badges:office',
          '    max_duration: 30d',
          '    target: { task: issue an office badge }',
          '',
        ].join('\n'),
    });
    const applied = await h.cli(['apply', dir]);
    assert.equal(applied.code, 0, applied.stderr);
    const r = await h.cli(['reconcile', 'helpdesk']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.run.status, 'complete');
    assert.equal(r.json.run.connectors[0].status, 'not_covered');
    assert.ok(r.json.run.connectors[0].error);
    assert.deepEqual((await h.cli(['report'])).json.reconcile_not_covered, ['helpdesk']);
    const text = await h.cli(['reconcile', 'helpdesk'], { text: true });
    assert.match(text.stdout, /helpdesk: not covered/);
  });

  test('an unknown connector is an input error naming it', async () => {
    const r = await h.cli(['reconcile', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.json.error.code, 'unknown_connector');
    assert.equal(r.json.error.field, 'connector');
  });
});

describe('scheduled reconciliation', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
    await settle(h);
  });
  after(() => h.close());

  test('reconcile: { every } runs through the job runtime when due, once per period across sweeps, and its remediations run in the same sweep', async () => {
    const dir = withReconcile(h, 'every: 1h, unmanaged: remediate');
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const db = await h.connectors.get('acme-db');
    await db.apply({ account: 'sam@acme.test', target: { role: 'analytics_writer' } });
    const runs = async () =>
      (
        await h.store.sql.query<{ trigger: string; status: string }>(
          'SELECT trigger, status FROM reconcile_runs ORDER BY started_at, id',
        )
      ).map((r) => `${r.trigger} ${r.status}`);

    const first = await h.cli(['sweep']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await runs(), ['schedule complete']);
    assert.ok(
      !(await h.members('analytics_writer')).includes('sam@acme.test'),
      'removed in the same sweep',
    );

    assert.equal((await h.cli(['sweep'])).code, 0);
    assert.deepEqual(await runs(), ['schedule complete'], 'not again within the hour');

    h.advance(HOUR);
    assert.equal((await h.cli(['sweep'])).code, 0);
    assert.deepEqual(await runs(), ['schedule complete', 'schedule complete']);
    const [last] = await h.store.sql.query<{ actor: string }>(
      `SELECT actor FROM audit_events WHERE action = 'reconcile.removed'`,
    );
    assert.equal(last?.actor, 'test-worker');
  });
});
