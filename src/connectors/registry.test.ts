import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { InputError, TargetError } from '../core/errors.js';
import { connectorFactories, connectorSource } from './registry.js';

// Port 1 refuses connections; building a connector never connects, so these tests need no server.
const configs = [
  { name: 'pg-analytics', type: 'postgres', settings: { url: '${ANALYTICS_DB_URL}' } },
  { name: 'corp-ldap', type: 'ldap', settings: {} },
  { name: 'odd', type: 'toString', settings: {} },
];

test('the registry knows the postgres connector type', () => {
  assert.equal(typeof connectorFactories.postgres, 'function');
});

test('a connector is built on first use, cached, and rebuilt after a failed build', async () => {
  const env: Record<string, string | undefined> = {};
  const source = connectorSource(configs, { env, dataDir: tmpdir() });
  await assert.rejects(source.get('pg-analytics'), (e: Error) => {
    return e instanceof InputError && e.message.includes('${ANALYTICS_DB_URL}');
  });
  env.ANALYTICS_DB_URL = 'postgres://gatehouse@127.0.0.1:1/x';
  const [a, b] = await Promise.all([source.get('pg-analytics'), source.get('pg-analytics')]);
  assert.equal(a, b);
  assert.equal(await source.get('pg-analytics'), a);
  assert.equal(a.name, 'pg-analytics');
  assert.equal(a.type, 'postgres');
  await source.closeAll();
  await assert.rejects(a.readBack({ account: 'x', target: { role: 'y' } }), TargetError);
});

test('an unknown connector name or an unsupported type is a TargetError naming it', async () => {
  const source = connectorSource(configs, { env: {}, dataDir: tmpdir() });
  await assert.rejects(source.get('nope'), (e: Error) => {
    return e instanceof TargetError && e.message.includes('"nope"');
  });
  for (const [name, type] of [
    ['corp-ldap', 'ldap'],
    ['odd', 'toString'],
  ]) {
    await assert.rejects(source.get(name!), (e: Error) => {
      return e instanceof TargetError && e.message.includes(name!) && e.message.includes(type!);
    });
  }
  await source.closeAll();
});
