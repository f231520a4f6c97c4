import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, PEOPLE_HEADER, demoPeople, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';

/** The decision procedure's reason codes (PRODUCT.md section 3), each produced through `request --json`. */
describe('decision procedure', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
    // A suspended person, an agent whose owner left, and an agent with an active owner.
    const r = await h.sync(
      [
        PEOPLE_HEADER,
        ...demoPeople(),
        'ivan@acme.test,human,suspended,Ivan Pol,engineering,staff engineer,carol@acme.test,,berlin,employee',
        'olga@acme.test,human,terminated,Olga Ek,support,agent,dave@acme.test,,lisbon,employee',
      ],
      ['--kinds', 'human'],
    );
    assert.equal(r.code, 0, r.stderr);
    const nhi = await h.sync(
      [
        'id,kind,status,display_name,department,title,manager,owner',
        'svc:ci-deployer,service_account,active,CI deployer,engineering,,,alice@acme.test',
        'agent:triage-bot,ai_agent,active,Ticket triage agent,support,,,dave@acme.test',
        'agent:orphan,ai_agent,active,Orphaned agent,support,,,olga@acme.test',
        'key:billing,api_key,active,Billing API key,finance,,,frank@acme.test',
      ],
      ['--kinds', 'service_account,ai_agent,api_key'],
    );
    assert.equal(nhi.code, 0, nhi.stderr);
  });
  after(() => h.close());

  const request = (ent: string, who: string, extra: string[] = [], as = who) =>
    h.cli(['request', ent, '--for', who, '--reason', WHY, '--as', as, ...extra]);

  const reason = (r: { json: { decision: { reasons: { code: string }[] } } }) =>
    r.json.decision.reasons[0]!.code;

  test('a request for a suspended identity is rejected as identity_inactive', async () => {
    const r = await request('wiki:edit', 'ivan@acme.test', [], 'carol@acme.test');
    assert.equal(r.code, 0);
    assert.equal(r.json.status, 'rejected');
    assert.equal(reason(r), 'identity_inactive');
  });

  test('a non-human identity whose owner is not active is rejected as owner_missing', async () => {
    const r = await request('analytics:reader', 'agent:orphan', [], 'dave@acme.test');
    assert.equal(reason(r), 'owner_missing');
  });

  test('an identity kind the entitlement does not allow is rejected as kind_not_allowed', async () => {
    const r = await request('wiki:edit', 'key:billing', [], 'frank@acme.test');
    assert.equal(reason(r), 'kind_not_allowed');
  });

  test('a missing or trivial justification is rejected as justification_required', async () => {
    const none = await h.cli([
      'request',
      'analytics:writer',
      '--for',
      'bob@acme.test',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(reason(none), 'justification_required');
    const trivial = await h.cli([
      'request',
      'analytics:writer',
      '--for',
      'bob@acme.test',
      '--reason',
      'need it',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(reason(trivial), 'justification_required');
  });

  test('an entitlement that requires a ticket is rejected without one as ticket_required', async () => {
    const r = await request('github:admin', 'alice@acme.test');
    assert.equal(reason(r), 'ticket_required');
  });

  test('a duration above the maximum is rejected as duration_exceeds_max, and standing access only where allowed', async () => {
    const long = await request('analytics:reader', 'bob@acme.test', ['--duration', '31d']);
    assert.equal(reason(long), 'duration_exceeds_max');
    const standing = await request('analytics:reader', 'bob@acme.test', ['--duration', 'standing']);
    assert.equal(reason(standing), 'duration_exceeds_max');
  });

  test('asking again for something held is rejected as duplicate and says how to extend', async () => {
    const r = await request('github:read', 'alice@acme.test');
    assert.equal(reason(r), 'duplicate');
    assert.match(r.json.decision.reasons[0].message, /extend grant grt_/);
  });

  test('a second request while one is pending is rejected as duplicate', async () => {
    const first = await request('analytics:writer', 'dan@acme.test');
    assert.equal(first.json.status, 'pending_approval');
    const second = await request('analytics:writer', 'dan@acme.test');
    assert.equal(reason(second), 'duplicate');
  });

  test('a forbid policy rejects as forbidden_by_policy, naming the policy and its @reason', async () => {
    const r = await request('prod:deploy', 'heidi@acme.test');
    assert.deepEqual(r.json.decision.reasons[0], {
      code: 'forbidden_by_policy',
      policy: 'contractors-no-prod',
      message: 'Contractors may not request production access',
    });
    const agent = await request(
      'github:admin',
      'agent:triage-bot',
      ['--ticket', 'JIRA:ITSM-42'],
      'dave@acme.test',
    );
    assert.equal(agent.json.decision.reasons[0].policy, 'no-agent-privilege');
  });

  test('SoD block rules reject as sod_conflict naming the rule', async () => {
    const vendor = await request('erp:vendor-create', 'grace@acme.test');
    assert.equal(vendor.json.status, 'pending_approval');
    const pay = await request('erp:payment-approve', 'grace@acme.test');
    assert.equal(reason(pay), 'sod_conflict');
    assert.equal(pay.json.decision.reasons[0].policy, 'SOD-PAY-1');
  });

  test('a licensed entitlement with no free seat is rejected as no_licence_seat, naming a lesser entitlement', async () => {
    for (const who of ['alice@acme.test', 'dan@acme.test']) {
      const r = await request('github:write', who);
      assert.equal(r.json.status, 'pending_approval');
      assert.equal((await h.cli(['approve', r.json.id, '--as', 'carol@acme.test'])).code, 0);
    }
    const r = await request('github:write', 'bob@acme.test');
    assert.equal(reason(r), 'no_licence_seat');
    assert.match(r.json.decision.reasons[0].message, /github:read has capacity/);
  });

  test('an auto_approve permit approves at once as auto_approved, naming the policies, with the role fit shown', async () => {
    const r = await request('analytics:reader', 'bob@acme.test', ['--duration', '8h']);
    assert.equal(r.json.status, 'approved');
    assert.equal(r.json.decision.outcome, 'auto_approved');
    assert.deepEqual(
      r.json.decision.reasons.map((x: { policy: string }) => x.policy),
      ['short-low-risk'],
    );
    assert.equal(typeof r.json.decision.role_fit, 'number');
    assert.equal(r.json.grant.state, 'provisioning');
  });

  test('role fit is the share of same-department, same-title peers holding the entitlement', async () => {
    // alice and dan, bob's active peers, were granted github:write above; suspended ivan is no peer.
    const r = await h.cli(['explain', 'github:write', '--for', 'bob@acme.test']);
    assert.equal(r.json.decision.role_fit, 100);
    assert.match(r.json.decision.role_fit_explanation, /held by 2 of 2 peers/);
    const wiki = await h.cli(['explain', 'analytics:writer', '--for', 'bob@acme.test']);
    assert.equal(wiki.json.decision.role_fit, 0);
  });

  test('an entitlement the policies do not auto-approve waits for approval', async () => {
    const r = await request('analytics:writer', 'bob@acme.test');
    assert.equal(r.json.decision.outcome, 'needs_approval');
    assert.equal(r.json.approval.stages[0].rule, 'manager');
    assert.deepEqual(r.json.approval.stages[0].approvers, ['carol@acme.test']);
  });

  test('a privileged entitlement is never auto-approved', async () => {
    const r = await request(
      'prod:admin',
      'carol@acme.test',
      ['--duration', '1h'],
      'carol@acme.test',
    );
    assert.equal(r.json.decision.outcome, 'needs_approval');
  });

  test('with no permit at all the request is rejected as not_eligible', async () => {
    const dir = await import('node:fs').then((fs) => {
      const d = fs.mkdtempSync(`${h.dir}/cfg-`);
      fs.cpSync(new URL('../demo/acme', import.meta.url), d, { recursive: true });
      fs.writeFileSync(
        `${d}/policies/eligibility.cedar`,
        fs
          .readFileSync(`${d}/policies/eligibility.cedar`, 'utf8')
          .replace(
            'permit (principal, action == Action::"request", resource);',
            'permit (principal, action == Action::"request", resource) when { principal.department == "finance" };',
          ),
      );
      return d;
    });
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const r = await request('wiki:edit', 'sam@acme.test');
    assert.equal(reason(r), 'not_eligible');
  });

  test('a policy that fails at run time is skipped by Cedar and named in the decision record', async () => {
    const dir = configVariant(h.dir, {
      'policies/clearance.cedar': () =>
        '@id("needs-clearance")\n@reason("Production needs clearance")\nforbid (principal, action == Action::"request", resource in App::"prod")\nwhen { principal.clearance == "none" };\n',
    });
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const r = await h.cli(['explain', 'prod:deploy', '--for', 'sam@acme.test']);
    assert.notEqual(r.json.decision.reasons[0].code, 'forbidden_by_policy');
    assert.match(r.json.decision.inputs.policy_errors.join('\n'), /needs-clearance/);
  });

  test('explain writes nothing', async () => {
    const before = (await h.cli(['requests'])).json.requests.length;
    const r = await h.cli(['explain', 'erp:payment-approve', '--for', 'frank@acme.test']);
    assert.equal(r.code, 0);
    assert.equal(r.json.id, null);
    assert.equal((await h.cli(['requests'])).json.requests.length, before);
  });
});
