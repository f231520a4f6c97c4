import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accountOf, accountRefusal, governedTargets } from './account-guard.js';

const apps = [
  { id: 'analytics', connector: 'pg' },
  { id: 'wiki', connector: 'other' },
];
const entitlements = [
  { id: 'analytics:reader', app: 'analytics', target: { role: 'analytics_reader' } },
  { id: 'wiki:edit', app: 'wiki', target: { role: 'wiki_edit' } },
];

test('provisioning refuses an account that is a governed target role of the same connector', () => {
  const governed = governedTargets('pg', apps, entitlements);
  assert.deepEqual([...governed], [['analytics_reader', 'analytics:reader']]);
  const refusal = accountRefusal({
    identity: 'svc:x',
    account: 'analytics_reader',
    connector: 'pg',
    governed,
    sharers: [],
  });
  assert.match(
    refusal ?? '',
    /account "analytics_reader" of svc:x on connector pg is itself the governed target of analytics:reader/,
  );
  // Another connector's role is no concern of this one.
  assert.equal(
    accountRefusal({
      identity: 'svc:x',
      account: 'wiki_edit',
      connector: 'pg',
      governed,
      sharers: [],
    }),
    undefined,
  );
});

test('provisioning refuses an account another identity maps to, naming both', () => {
  const governed = governedTargets('pg', apps, entitlements);
  const refusal = accountRefusal({
    identity: 'bob@acme.test',
    account: 'bob',
    connector: 'pg',
    governed,
    sharers: ['bob@acme.test', 'robert@acme.test'],
  });
  assert.match(
    refusal ?? '',
    /bob@acme\.test and robert@acme\.test map to one account "bob" on connector pg/,
  );
  assert.equal(
    accountRefusal({
      identity: 'bob@acme.test',
      account: 'bob',
      connector: 'pg',
      governed,
      sharers: ['bob@acme.test'],
    }),
    undefined,
  );
});

test('the account is the connector account_attribute, else the identity id', () => {
  const bob = { id: 'bob@acme.test', attributes: { pg_user: 'bob', empty: '' } };
  assert.equal(accountOf(bob, { settings: { account_attribute: 'pg_user' } }), 'bob');
  assert.equal(accountOf(bob, { settings: { account_attribute: 'empty' } }), 'bob@acme.test');
  assert.equal(accountOf(bob, { settings: {} }), 'bob@acme.test');
  assert.equal(accountOf(bob, undefined), 'bob@acme.test');
});
