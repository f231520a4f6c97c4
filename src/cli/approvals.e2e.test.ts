import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';

/** Every rule of the approval procedure (PRODUCT.md section 3, steps 6 and 7), through the CLI. */
describe('approval procedure', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  const request = (ent: string, who: string, as = who, extra: string[] = []) =>
    h.cli(['request', ent, '--for', who, '--reason', WHY, '--as', as, ...extra]);

  test("the manager stage resolves to the beneficiary's manager, and the manager's approval grants", async () => {
    const r = await request('analytics:writer', 'bob@acme.test');
    assert.deepEqual(
      r.json.approval.stages.map((s: { rule: string; approvers: string[] }) => [
        s.rule,
        s.approvers,
      ]),
      [['manager', ['carol@acme.test']]],
    );
    const a = await h.cli(['approve', r.json.id, '--as', 'carol@acme.test', '--comment', 'fine']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.json.status, 'approved');
    assert.equal(a.json.grant.state, 'provisioning');
  });

  test('requests --approver lists exactly what waits on that person', async () => {
    const r = await request('analytics:writer', 'dan@acme.test');
    const waiting = await h.cli(['requests', '--approver', 'carol@acme.test']);
    assert.deepEqual(
      waiting.json.requests.map((x: { id: string }) => x.id),
      [r.json.id],
    );
    assert.deepEqual((await h.cli(['requests', '--approver', 'erin@acme.test'])).json.requests, []);
  });

  test('nobody approves a request they made or that is for themselves (exit 2)', async () => {
    const forSelf = await request('analytics:writer', 'alice@acme.test');
    const self = await h.cli(['approve', forSelf.json.id, '--as', 'alice@acme.test']);
    assert.equal(self.code, 2);
    assert.match(self.stderr, /nobody approves a request they made or that is for themselves/);
    // carol asks for bob's access: carol is bob's manager but requested it, so the fallback group decides.
    const byManager = await request('erp:vendor-create', 'bob@acme.test', 'carol@acme.test');
    assert.equal(byManager.json.approval.stages[0].fallback, true);
    assert.deepEqual(byManager.json.approval.stages[0].approvers, ['gina@acme.test']);
    assert.equal((await h.cli(['approve', byManager.json.id, '--as', 'carol@acme.test'])).code, 2);
  });

  test("only the current stage's approvers may act (exit 2 otherwise)", async () => {
    const r = await request('analytics:writer', 'heidi@acme.test');
    const other = await h.cli(['approve', r.json.id, '--as', 'erin@acme.test']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /not an approver of the current stage/);
  });

  test('a stage that resolves to nobody goes to the fallback group, never to skip', async () => {
    // fiona has no manager.
    const r = await request('analytics:writer', 'fiona@acme.test');
    assert.equal(r.json.approval.stages[0].rule, 'manager');
    assert.equal(r.json.approval.stages[0].fallback, true);
    assert.deepEqual(r.json.approval.stages[0].approvers, ['gina@acme.test']);
  });

  test('stages run in order: app_owner then group:security for github:admin', async () => {
    const r = await request('github:admin', 'alice@acme.test', 'alice@acme.test', [
      '--ticket',
      'JIRA:ITSM-7',
      '--duration',
      '2h',
    ]);
    assert.deepEqual(
      r.json.approval.stages.map((s: { rule: string }) => s.rule),
      ['app_owner', 'group:security'],
    );
    assert.deepEqual(r.json.approval.stages[1].approvers, ['sam@acme.test', 'sue@acme.test']);
    const early = await h.cli(['approve', r.json.id, '--as', 'sam@acme.test']);
    assert.equal(early.code, 2, 'the security stage is not yet current');
    const one = await h.cli(['approve', r.json.id, '--as', 'erin@acme.test']);
    assert.equal(one.json.status, 'pending_approval');
    assert.deepEqual(
      one.json.approval.stages.map((s: { state: string }) => s.state),
      ['approved', 'pending'],
    );
    const two = await h.cli(['approve', r.json.id, '--as', 'sue@acme.test']);
    assert.equal(two.json.status, 'approved');
  });

  test('one rejection rejects the whole request, and a rejection needs a comment', async () => {
    const r = await request('erp:payment-release', 'grace@acme.test');
    assert.equal((await h.cli(['reject', r.json.id, '--as', 'fiona@acme.test'])).code, 1);
    const rej = await h.cli([
      'reject',
      r.json.id,
      '--as',
      'fiona@acme.test',
      '--comment',
      'use payment-approve',
    ]);
    assert.equal(rej.json.status, 'rejected');
    assert.equal((await h.cli(['approve', r.json.id, '--as', 'erin@acme.test'])).code, 1);
  });

  test('a request not decided within the approval timeout lapses at the next sweep', async () => {
    const r = await request('analytics:writer', 'sam@acme.test');
    const late = await request('erp:vendor-create', 'sue@acme.test');
    h.advance(71 * 3600);
    await h.cli(['sweep']);
    assert.equal(
      (await h.cli(['requests', '--status', 'pending_approval'])).json.requests.some(
        (x: { id: string }) => x.id === r.json.id,
      ),
      true,
    );
    h.advance(2 * 3600);
    const tooLate = await h.cli(['approve', late.json.id, '--as', 'carol@acme.test']);
    assert.equal(tooLate.code, 1, 'past the timeout nobody can approve, even before the sweep');
    assert.match(tooLate.stderr, /lapsed/);
    const s = await h.cli(['sweep']);
    assert.ok(s.json.lapsed >= 1);
    const after = await h.cli(['requests', '--status', 'lapsed']);
    assert.ok(after.json.requests.some((x: { id: string }) => x.id === r.json.id));
  });

  test('an SoD require_exception rule adds an exception stage and caps the duration', async () => {
    const w = await request('github:write', 'alice@acme.test');
    await h.cli(['approve', w.json.id, '--as', 'carol@acme.test']);
    const r = await request('prod:deploy', 'alice@acme.test', 'alice@acme.test', [
      '--duration',
      '30d',
    ]);
    assert.equal(r.json.decision.outcome, 'needs_approval');
    assert.ok(
      r.json.decision.reasons.some(
        (x: { code: string; policy: string }) =>
          x.code === 'sod_exception_required' && x.policy === 'SOD-DEPLOY-1',
      ),
    );
    const last = r.json.approval.stages.at(-1);
    assert.equal(last.rule, 'sod_exception:SOD-DEPLOY-1:group:risk');
    assert.deepEqual(last.approvers, ['rita@acme.test']);
    assert.equal(r.json.decision.inputs.duration, '7d');
  });

  test('break-glass is granted at once, capped hard, labelled emergency, with a post-event review', async () => {
    const r = await request('prod:admin', 'dan@acme.test', 'dan@acme.test', [
      '--emergency',
      '--duration',
      '8h',
    ]);
    assert.equal(r.json.status, 'approved');
    assert.equal(r.json.emergency, true);
    assert.equal(r.json.decision.reasons[0].code, 'break_glass');
    assert.equal(r.json.duration_seconds, 4 * 3600);
    await h.cli(['sweep']);
    const g = (await h.cli(['grants', '--identity', 'dan@acme.test'])).json.grants.find(
      (x: { entitlement: string }) => x.entitlement === 'prod:admin',
    );
    assert.equal(g.emergency, true);
    assert.equal(g.trigger, 'emergency');
    assert.equal(
      new Date(g.expires_at).getTime() - new Date(g.granted_at).getTime(),
      4 * 3600 * 1000,
    );
    const report = await h.cli(['report']);
    assert.equal(report.json.open_emergency_reviews, 1);
  });

  test('break-glass on an entitlement that does not allow it is rejected', async () => {
    const r = await request('erp:vendor-create', 'sue@acme.test', 'sue@acme.test', ['--emergency']);
    assert.equal(r.json.decision.reasons[0].code, 'break_glass_not_allowed');
  });

  test('min_approvals and identity: stages need that many distinct approvers', async () => {
    const dir = configVariant(h.dir, {
      'apps/analytics.yaml': (t) =>
        t.replace(
          '    target: { role: analytics_writer }',
          '    approval: [{ rule: group:security, min_approvals: 2 }, identity:gina@acme.test]\n    target: { role: analytics_writer }',
        ),
    });
    const applied = await h.cli(['apply', dir]);
    assert.equal(applied.code, 0, applied.stderr);
    const r = await request('analytics:writer', 'rita@acme.test');
    assert.deepEqual(
      r.json.approval.stages.map((s: { rule: string; min_approvals: number }) => [
        s.rule,
        s.min_approvals,
      ]),
      [
        ['group:security', 2],
        ['identity:gina@acme.test', 1],
      ],
    );
    const one = await h.cli(['approve', r.json.id, '--as', 'sam@acme.test']);
    assert.equal(one.json.approval.stages[0].state, 'pending');
    assert.equal(
      (await h.cli(['approve', r.json.id, '--as', 'sam@acme.test'])).code,
      1,
      'the same person cannot approve twice',
    );
    const two = await h.cli(['approve', r.json.id, '--as', 'sue@acme.test']);
    assert.equal(two.json.approval.stages[0].state, 'approved');
    const three = await h.cli(['approve', r.json.id, '--as', 'gina@acme.test']);
    assert.equal(three.json.status, 'approved');
  });

  test("a non-human identity's manager stage goes to its owner's manager, and owner to its owner", async () => {
    const dir = configVariant(h.dir, {
      'apps/analytics.yaml': (t) =>
        t.replace(
          '    target: { role: analytics_writer }',
          '    kinds: [human, service_account]\n    approval: [manager, owner]\n    target: { role: analytics_writer }',
        ),
    });
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const r = await request('analytics:writer', 'svc:ci-deployer', 'bob@acme.test');
    assert.deepEqual(
      r.json.approval.stages.map((s: { approvers: string[] }) => s.approvers),
      [['carol@acme.test'], ['alice@acme.test']],
    );
  });
});
