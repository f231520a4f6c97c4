import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testStore } from '../../store/test-store.js';
import { accountOf, accountRefusal, governedTargets, sharersQuery } from './account-guard.js';

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

test('the sharers of an account are read from the store with the same rule', async () => {
  const store = await testStore();
  try {
    const add = (id: string, attributes: Record<string, string>) =>
      store.sql.query(
        `INSERT INTO identities (id, kind, status, attributes, source, created_at, updated_at)
         VALUES ($1, 'human', 'active', $2, 'sync', now(), now())`,
        [id, JSON.stringify(attributes)],
      );
    await add('bob@acme.test', { pg_user: 'bob' });
    await add('robert@acme.test', { pg_user: 'bob' });
    await add('bob', {});
    await add('carol@acme.test', { pg_user: '' });
    const sharers = async (account: string, settings: Record<string, unknown>) => {
      const q = sharersQuery(account, { settings });
      return (await store.sql.query<{ id: string }>(q.text, q.params)).map((r) => r.id).sort();
    };
    assert.deepEqual(await sharers('bob', { account_attribute: 'pg_user' }), [
      'bob',
      'bob@acme.test',
      'robert@acme.test',
    ]);
    assert.deepEqual(await sharers('carol@acme.test', { account_attribute: 'pg_user' }), [
      'carol@acme.test',
    ]);
    assert.deepEqual(await sharers('bob', {}), ['bob']);
  } finally {
    await store.close();
  }
});
