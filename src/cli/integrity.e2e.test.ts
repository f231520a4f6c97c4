import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { actOnRequest } from '../core/approvals/act.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, PEOPLE_HEADER, demoPeople, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';
const DAY = 86400;

/** People beyond the demo's: ivan reports to erin (the app owner), tom left, sara is suspended. */
const EXTRA = [
  'ivan@acme.test,human,active,Ivan Pol,it,engineer,erin@acme.test,,berlin,employee',
  'tom@acme.test,human,terminated,Tom Reed,it,engineer,erin@acme.test,,berlin,employee',
  'sara@acme.test,human,suspended,Sara Vos,it,engineer,erin@acme.test,,berlin,employee',
];

/** Approval integrity, actors and extensions (issue 7), through the CLI as a user would. */
describe('decision integrity', () => {
  let h: Harness;
  let parent: string;
  before(async () => {
    parent = mkdtempSync(join(tmpdir(), 'gatehouse-integrity-'));
    const config = configVariant(parent, {
      // carol, everyone's manager, also sits in the group that grants SoD exceptions.
      'groups.yaml': (t) =>
        t.replace('members: [rita@acme.test]', 'members: [carol@acme.test, rita@acme.test]'),
      // A short maximum, so a few auto-approved extensions reach it.
      'apps/analytics.yaml': (t) =>
        t.replace(
          'max_duration: 30d\n    default_duration: 7d',
          'max_duration: 3d\n    default_duration: 1d',
        ),
    });
    h = await harness({ config });
    const r = await h.sync([PEOPLE_HEADER, ...demoPeople(), ...EXTRA], ['--kinds', 'human']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await h.close();
    rmSync(parent, { recursive: true, force: true });
  });

  const request = (ent: string, who: string, as = who, extra: string[] = []) =>
    h.cli(['request', ent, '--for', who, '--reason', WHY, '--as', as, ...extra]);
  const approve = (id: string, as: string) =>
    h.cli(['approve', id, '--as', as, '--comment', 'fine']);
  const stages = (r: { json: { approval: { stages: object[] } } }) =>
    r.json.approval.stages.map((s) => {
      const { rule, approvers, fallback, state } = s as Record<string, unknown>;
      return { rule, approvers, fallback, state };
    });

  test('one person approves one stage of a request; a stage whose approvers all acted goes to the fallback group', async () => {
    // ivan's manager is erin, who also owns ERP: both stages name erin.
    const r = await request('erp:vendor-create', 'ivan@acme.test');
    assert.equal(r.json.status, 'pending_approval');
    const first = await approve(r.json.id, 'erin@acme.test');
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(stages(first)[1], {
      rule: 'app_owner',
      approvers: ['gina@acme.test'],
      fallback: true,
      state: 'pending',
    });
    const again = await approve(r.json.id, 'erin@acme.test');
    assert.equal(again.code, 2);
    assert.equal(again.json.error.code, 'approved_other_stage');
    assert.match(again.json.error.message, /erin@acme\.test approved stage 0 of req_\w+/);
    const last = await approve(r.json.id, 'gina@acme.test');
    assert.equal(last.code, 0, last.stderr);
    assert.equal(last.json.status, 'approved');
  });

  test('the SoD-exception stage never accepts someone who approved an earlier stage', async () => {
    const write = await request('github:write', 'alice@acme.test');
    assert.equal((await approve(write.json.id, 'carol@acme.test')).json.status, 'approved');
    const deploy = await request('prod:deploy', 'alice@acme.test');
    assert.deepEqual(
      stages(deploy).map((s) => s.rule),
      ['manager', 'app_owner', 'sod_exception:SOD-DEPLOY-1:group:risk'],
    );
    assert.equal((await approve(deploy.json.id, 'carol@acme.test')).code, 0);
    const owner = await approve(deploy.json.id, 'erin@acme.test');
    assert.deepEqual(stages(owner)[2]!.approvers, ['rita@acme.test']);
    const byManager = await approve(deploy.json.id, 'carol@acme.test');
    assert.equal(byManager.code, 2);
    assert.equal(byManager.json.error.code, 'approved_other_stage');
    const byRisk = await approve(deploy.json.id, 'rita@acme.test');
    assert.equal(byRisk.json.status, 'approved');
  });

  test('the last approval decides again: a licence seat taken while the request waited rejects it as no_licence_seat', async () => {
    // github:write has two standard seats; alice holds one since the test above.
    const bob = await request('github:write', 'bob@acme.test');
    const dan = await request('github:write', 'dan@acme.test');
    assert.deepEqual([bob.json.status, dan.json.status], ['pending_approval', 'pending_approval']);
    assert.equal((await approve(bob.json.id, 'carol@acme.test')).json.status, 'approved');
    const last = await approve(dan.json.id, 'carol@acme.test');
    assert.equal(last.code, 0, last.stderr);
    assert.equal(last.json.status, 'rejected');
    assert.equal(last.json.decision.reasons[0].code, 'no_licence_seat');
    const [live] = await h.store.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM grants WHERE entitlement = 'github:write' AND state IN ('provisioning', 'active', 'revoking')`,
    );
    assert.equal(live?.n, 2);
  });

  test('a terminated requester is refused, and a suspended one gets no break-glass for someone else', async () => {
    const left = await request('wiki:edit', 'alice@acme.test', 'tom@acme.test');
    assert.equal(left.code, 2);
    assert.equal(left.json.error.code, 'requester_inactive');
    assert.match(left.json.error.message, /requester tom@acme\.test is terminated/);
    const glass = await request('prod:admin', 'bob@acme.test', 'sara@acme.test', [
      '--emergency',
      '--duration',
      '1h',
    ]);
    assert.equal(glass.code, 2);
    assert.equal(glass.json.error.code, 'requester_inactive');
    const grants = await h.cli(['grants', '--identity', 'bob@acme.test']);
    assert.ok(!JSON.stringify(grants.json).includes('prod:admin'), 'no break-glass grant was made');
  });

  test('the audit records how each actor was established (via)', async () => {
    const r = await request('analytics:writer', 'heidi@acme.test');
    const approved = await approve(r.json.id, 'carol@acme.test');
    const events = await h.store.sql.query<{ action: string; via: string | null }>(
      `SELECT action, details->>'via' AS via FROM audit_events WHERE subject = $1 ORDER BY seq`,
      [r.json.id],
    );
    assert.deepEqual(events, [
      { action: 'request.submitted', via: 'cli' },
      { action: 'request.decided', via: null },
      { action: 'request.approved_stage', via: 'cli' },
      { action: 'request.approved', via: 'cli' },
    ]);
    const grant = approved.json.grant.id as string;
    const revoked = await h.cli([
      'revoke',
      grant,
      '--reason',
      'no longer needed',
      '--as',
      'heidi@acme.test',
    ]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const [event] = await h.store.sql.query<{ via: string }>(
      `SELECT details->>'via' AS via FROM audit_events WHERE subject = $1 AND action = 'grant.revoke_requested'`,
      [grant],
    );
    assert.equal(event?.via, 'cli');
    // Configuration and the identity feed say how they arrived too (the harness applied and
    // synced both through the CLI).
    const setup = await h.store.sql.query<{ action: string; via: string | null }>(
      `SELECT DISTINCT action, details->>'via' AS via FROM audit_events
        WHERE action IN ('config.applied', 'identity.joined') ORDER BY action`,
    );
    assert.deepEqual(setup, [
      { action: 'config.applied', via: 'cli' },
      { action: 'identity.joined', via: 'cli' },
    ]);
  });

  test('the last approval decides again: a beneficiary suspended while the request waited is rejected with the reason', async () => {
    const r = await request('analytics:writer', 'dan@acme.test');
    assert.equal(r.json.status, 'pending_approval');
    const suspended = demoPeople().map((row) =>
      row.startsWith('dan@acme.test,') ? row.replace(',active,', ',suspended,') : row,
    );
    assert.equal(
      (await h.sync([PEOPLE_HEADER, ...suspended, ...EXTRA], ['--kinds', 'human'])).code,
      0,
    );
    const a = await approve(r.json.id, 'carol@acme.test');
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.json.status, 'rejected');
    assert.equal(a.json.decision.reasons[0].code, 'identity_inactive');
    assert.equal(a.json.grant, null);
    // dan is back for the tests after this one.
    assert.equal(
      (await h.sync([PEOPLE_HEADER, ...demoPeople(), ...EXTRA], ['--kinds', 'human'])).code,
      0,
    );
  });

  test('auto-approved extensions never carry a grant past max_duration from activation', async () => {
    const r = await request('analytics:reader', 'bob@acme.test', 'bob@acme.test', [
      '--duration',
      '1d',
    ]);
    assert.equal(r.json.status, 'approved', JSON.stringify(r.json.decision));
    await h.cli(['sweep']);
    const grant = r.json.grant.id as string;
    const extend = () =>
      h.cli(['extend', grant, '--duration', '1d', '--reason', WHY, '--as', 'bob@acme.test']);
    // 2d, then 3d from activation: within the 3d maximum, approved by policy.
    assert.equal((await extend()).json.status, 'approved');
    assert.equal((await extend()).json.status, 'approved');
    h.advance(1.5 * DAY);
    // 1.5d remain, so another day passes the remaining-time cap, but the grant would live 4d.
    const past = await extend();
    assert.equal(past.json.status, 'pending_approval', JSON.stringify(past.json.decision));
    const codes = past.json.decision.reasons.map((x: { code: string }) => x.code);
    assert.deepEqual(codes, ['approval_required', 'lifetime_exceeds_max']);
    assert.equal(past.json.decision.inputs.lifetime, '4d');
  });
});

describe('approval.authenticated_only', () => {
  let h: Harness;
  let parent: string;
  before(async () => {
    parent = mkdtempSync(join(tmpdir(), 'gatehouse-authonly-'));
    const config = configVariant(parent, {
      'gatehouse.yaml': (t) =>
        t.replace('  timeout: 72h', '  timeout: 72h\n  authenticated_only: true'),
    });
    h = await harness({ config });
  });
  after(async () => {
    await h.close();
    rmSync(parent, { recursive: true, force: true });
  });

  test('refuses approvals from the command line and accepts them through an authenticated channel', async () => {
    const r = await h.cli([
      'request',
      'analytics:writer',
      '--for',
      'bob@acme.test',
      '--reason',
      WHY,
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(r.json.status, 'pending_approval');
    const cli = await h.cli(['approve', r.json.id, '--as', 'carol@acme.test']);
    assert.equal(cli.code, 2);
    assert.equal(cli.json.error.code, 'authenticated_only');
    const catalog = await new CatalogCache().get(h.store.sql);
    await actOnRequest(h.store.sql, catalog, new Date(h.now), {
      requestId: r.json.id,
      actor: 'carol@acme.test',
      verdict: 'approve',
      comment: 'approved in the portal',
      via: 'api',
    });
    const [row] = await h.store.sql.query<{ status: string }>(
      'SELECT status FROM requests WHERE id = $1',
      [r.json.id],
    );
    assert.equal(row?.status, 'approved');
  });
});
