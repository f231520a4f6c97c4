import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../errors.js';
import { parseInstant } from './campaigns.js';
import { parseScope, scopeWhere } from './scope.js';

const known = { apps: new Set(['erp']), entitlements: new Set(['erp:payment-release']) };

test('the scope grammar reads every term of CLI.md, and each term becomes one condition over active grants', () => {
  const scope = parseScope(
    'app=erp, entitlement=erp:payment-release,risk=high,kind=service_account,privileged=true,emergency=false',
    known,
  );
  assert.deepEqual(scope, {
    app: 'erp',
    entitlement: 'erp:payment-release',
    risk: 'high',
    kind: 'service_account',
    privileged: true,
    emergency: false,
  });
  const params: unknown[] = [];
  const where = scopeWhere(scope, (v) => `$${params.push(v)}`);
  assert.equal(
    where,
    "g.state = 'active' AND g.app = $1 AND g.entitlement = $2 AND e.risk = ANY($3::text[]) AND i.kind = $4 AND e.privileged = $5 AND g.emergency = $6",
  );
  assert.deepEqual(params[2], ['high', 'critical'], 'that tier and above');
});

test('a bad scope term is an input error on the field scope that says what is wrong', () => {
  for (const [text, message] of [
    ['', /name at least one term/],
    ['app', /app needs a value/],
    ['privileged=yes', /privileged is true or false/],
    ['kind=robot', /kind is one of human, service_account/],
    ['entitlement=erp:nope', /entitlement "erp:nope" is not configured/],
    ['unused_days=90', /unused_days needs when each grant was last used/],
  ] as const)
    assert.throws(
      () => parseScope(text, known),
      (e: InputError) => e instanceof InputError && e.field === 'scope' && message.test(e.message),
      text,
    );
});

test('a due date is a calendar date (midnight UTC) or an ISO 8601 instant; anything else, or a day that does not exist, is refused naming the field', () => {
  assert.equal(parseInstant('2026-06-30', 'due').toISOString(), '2026-06-30T00:00:00.000Z');
  assert.equal(
    parseInstant('2026-06-30T17:00:00+02:00', 'due').toISOString(),
    '2026-06-30T15:00:00.000Z',
  );
  for (const bad of [
    '2026-02-30',
    '2026-02-30T10:00:00Z',
    'tomorrow',
    '30/06/2026',
    '2026-06-30T17:00',
  ])
    assert.throws(
      () => parseInstant(bad, 'expires'),
      (e: InputError) => e.field === 'expires' && e.code === 'invalid_date',
      bad,
    );
});
