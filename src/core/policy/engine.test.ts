import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entitlement, Identity, Policy, RiskTier } from '../model.js';
import type { PolicyAction, PolicyContext } from './engine.js';
import { PolicyEngine, entitlementEntities, identityEntity } from './engine.js';
import type { PolicyJson } from './reads.js';
import { addReads, admitsAction, admitsResource, emptyReads } from './reads.js';

const TEXTS = [
  'permit (principal, action == Action::"request", resource);',
  'forbid (principal, action == Action::"request", resource) when { principal.kind == "ai_agent" && resource.privileged };',
  'forbid (principal, action, resource in App::"vault") when { principal["employment_type"] == "contractor" };',
  'forbid (principal, action in [Action::"request"], resource) when { principal.location == "mars" };',
  // Reads an attribute no identity has: Cedar skips it with an error, and must still say so.
  'forbid (principal, action == Action::"request", resource) when { principal.clearance == "none" };',
  'forbid (principal, action, resource) when { principal has nickname && context.emergency };',
  'permit (principal, action == Action::"auto_approve", resource) when { resource.risk <= 1 && context.role_fit >= 80 };',
  'permit (principal, action in [Action::"auto_approve", Action::"request"], resource) when { context.duration_hours <= 24 && principal.department == "ops" };',
  'forbid (principal, action == Action::"auto_approve", resource) when { context has ticket && !context.ticket && resource.risk >= 2 };',
  'forbid (principal, action, resource == Entitlement::"crm:user") when { principal.kind == "service_account" };',
  'permit (principal, action == Action::"auto_approve", resource in Entitlement::"vault:admin") when { context.emergency };',
];
const POLICIES: Policy[] = TEXTS.map((text, i) => ({
  id: `p${i}`,
  text,
  reason: null,
  file: 'test.cedar',
  line: i + 1,
}));

function person(n: number, kind: Identity['kind'], attributes: Record<string, string>): Identity {
  return {
    id: `i${n}`,
    kind,
    status: 'active',
    displayName: `I ${n}`,
    department: n % 2 ? 'ops' : 'sales',
    title: 'engineer',
    manager: 'boss',
    owner: kind === 'human' ? '' : 'boss',
    attributes,
  };
}

function entitlement(id: string, app: string, risk: RiskTier, privileged: boolean): Entitlement {
  return {
    id,
    app,
    risk,
    privileged,
    maxDuration: null,
    defaultDuration: null,
    standing: true,
    kinds: ['human'],
    requiresTicket: false,
    breakGlass: false,
    approval: null,
    licenceTier: null,
    target: {},
    credentialRotation: null,
  };
}

const IDENTITIES = [
  person(1, 'human', { employment_type: 'employee', location: 'paris' }),
  person(2, 'human', { employment_type: 'contractor', location: 'mars', nickname: 'x' }),
  person(3, 'ai_agent', {}),
  person(4, 'service_account', { clearance: 'none', nickname: 'svc' }),
  // i1 under another id: every value a policy reads is i1's, so an answer kept for one is the
  // other's; the error a policy raises names each by its own id.
  person(5, 'human', { employment_type: 'employee', location: 'paris' }),
];
const ENTITLEMENTS = [
  entitlement('vault:read', 'vault', 'low', false),
  entitlement('vault:admin', 'vault', 'critical', true),
  entitlement('crm:user', 'crm', 'medium', false),
];

function contexts(): PolicyContext[] {
  const out: PolicyContext[] = [];
  for (const emergency of [false, true])
    for (const ticket of [false, true])
      for (const [duration, fit] of [
        [8, 90],
        [72, 10],
      ] as const)
        out.push({
          duration_hours: duration,
          extension: false,
          lifetime_hours: duration,
          emergency,
          ticket,
          role_fit: fit,
          requester_is_beneficiary: true,
        });
  return out;
}

test('an answer from what the policies read, or kept from a call passed the same, is the answer from everything, errors included', async () => {
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const engine = await PolicyEngine.prepare(POLICIES);
  const whole = cedar.preparsePolicySet('engine-test-whole', {
    staticPolicies: Object.fromEntries(POLICIES.map((p) => [p.id, p.text])),
  });
  assert.equal(whole.type, 'success');
  let allowed = 0;
  let withErrors = 0;
  let calls = 0;
  for (const who of IDENTITIES)
    for (const ent of ENTITLEMENTS)
      for (const context of contexts())
        for (const action of ['request', 'auto_approve'] as PolicyAction[]) {
          const got = engine.authorize(action, who, ent, context);
          // Cedar's reasons come in no set order, asked again or not.
          const again = engine.authorize(action, who, ent, context);
          assert.equal(again.allowed, got.allowed, 'asked again');
          assert.deepEqual([...again.policies].sort(), [...got.policies].sort(), 'asked again');
          assert.deepEqual([...again.errors].sort(), [...got.errors].sort(), 'asked again');
          const full = cedar.statefulIsAuthorized({
            principal: { type: 'Identity', id: who.id },
            action: { type: 'Action', id: action },
            resource: { type: 'Entitlement', id: ent.id },
            context: { ...context },
            entities: [identityEntity(who), ...entitlementEntities(ent)],
            preparsedPolicySetId: 'engine-test-whole',
          });
          assert.equal(full.type, 'success');
          if (full.type !== 'success') return;
          const at = `${action} ${who.id} ${ent.id} ${JSON.stringify(context)}`;
          assert.equal(got.allowed, full.response.decision === 'allow', at);
          assert.deepEqual(
            [...got.policies].sort(),
            [...full.response.diagnostics.reason].sort(),
            at,
          );
          assert.deepEqual(
            [...got.errors].sort(),
            full.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).sort(),
            at,
          );
          calls++;
          if (got.allowed) allowed++;
          if (got.errors.length > 0) withErrors++;
        }
  // The cases reach both answers and the error path, or the comparison proves little.
  assert.ok(allowed > 0 && allowed < calls, `${allowed} of ${calls} allowed`);
  assert.ok(withErrors > 0, 'some call reached a policy that errs');
});

test('a policy set reads the names it accesses and the context as a whole only where it uses it so', async () => {
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const json = (text: string) => {
    const r = cedar.policyToJson(text);
    assert.equal(r.type, 'success');
    return (r as { json: unknown }).json as PolicyJson;
  };
  const reads = emptyReads();
  for (const t of TEXTS) addReads(json(t), reads);
  assert.deepEqual([...reads.names].sort(), [
    'clearance',
    'department',
    'duration_hours',
    'emergency',
    'employment_type',
    'kind',
    'location',
    'nickname',
    'privileged',
    'risk',
    'role_fit',
    'ticket',
  ]);
  assert.equal(reads.wholeContext, false);
  addReads(
    json('permit (principal, action, resource) when { context == { "ticket": true } };'),
    reads,
  );
  assert.equal(reads.wholeContext, true);

  const scoped = (t: string) => json(`permit (principal, ${t}, resource);`);
  assert.equal(admitsAction(scoped('action'), 'auto_approve'), true);
  assert.equal(admitsAction(scoped('action == Action::"request"'), 'auto_approve'), false);
  assert.equal(admitsAction(scoped('action == Action::"request"'), 'request'), true);
  assert.equal(admitsAction(scoped('action in Action::"request"'), 'auto_approve'), false);
  assert.equal(
    admitsAction(scoped('action in [Action::"x", Action::"auto_approve"]'), 'auto_approve'),
    true,
  );
  assert.equal(admitsAction(scoped('action in [Action::"x"]'), 'request'), false);

  const on = (t: string) => json(`permit (principal, action, ${t});`);
  assert.equal(admitsResource(on('resource'), 'crm:user', 'crm'), true);
  assert.equal(admitsResource(on('resource in App::"crm"'), 'crm:user', 'crm'), true);
  assert.equal(admitsResource(on('resource in App::"vault"'), 'crm:user', 'crm'), false);
  assert.equal(admitsResource(on('resource == Entitlement::"crm:user"'), 'crm:user', 'crm'), true);
  assert.equal(
    admitsResource(on('resource == Entitlement::"crm:user"'), 'crm:admin', 'crm'),
    false,
  );
  assert.equal(admitsResource(on('resource is Entitlement'), 'crm:admin', 'crm'), true);
});

test('a policy set that uses the context as a whole is passed every field', async () => {
  const engine = await PolicyEngine.prepare([
    {
      id: 'exact',
      text: 'permit (principal, action, resource) when { context == { "duration_hours": 8, "extension": false, "lifetime_hours": 8, "emergency": false, "ticket": true, "role_fit": 90, "requester_is_beneficiary": true } };',
      reason: null,
      file: 'test.cedar',
      line: 1,
    },
  ]);
  const [context] = contexts().filter((c) => c.ticket && !c.emergency && c.duration_hours === 8);
  assert.ok(context);
  assert.equal(
    engine.authorize('request', IDENTITIES[0]!, ENTITLEMENTS[0]!, context).allowed,
    true,
  );
});

test('principals alike in every value read are told apart where a policy names one or compares principals', async () => {
  const policy = (text: string, i: number): Policy => ({
    id: `q${i}`,
    text,
    reason: null,
    file: 'test.cedar',
    line: i + 1,
  });
  const [i1, , , , i5] = IDENTITIES;
  const [context] = contexts();
  const ent = ENTITLEMENTS[0]!;
  for (const texts of [
    ['permit (principal == Identity::"i1", action == Action::"request", resource);'],
    [
      'permit (principal, action == Action::"request", resource);',
      'forbid (principal, action, resource) when { principal in [Identity::"i5"] };',
    ],
  ]) {
    const engine = await PolicyEngine.prepare(texts.map(policy));
    assert.equal(engine.authorize('request', i1!, ent, context!).allowed, true, texts.join(' '));
    assert.equal(engine.authorize('request', i5!, ent, context!).allowed, false, texts.join(' '));
  }
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const reads = emptyReads();
  for (const t of TEXTS) {
    const r = cedar.policyToJson(t);
    assert.equal(r.type, 'success');
    addReads((r as { json: unknown }).json as PolicyJson, reads);
  }
  assert.equal(reads.principalIdentity, false, 'attributes alone: one answer serves both');
});
