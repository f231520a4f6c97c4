import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { InputError, TargetError } from '../core/errors.js';
import { noListing } from './module.js';
import { connectorSource } from './registry.js';
import { CONNECTOR_TYPES, connectorModule, connectorModules } from './modules.js';

// Port 1 refuses connections; building a connector never connects, so these tests need no server.
const configs = [
  { name: 'pg-analytics', type: 'postgres', settings: { url: '${ANALYTICS_DB_URL}' } },
  { name: 'odd', type: 'toString', settings: {} },
];

test('every connector type the configuration accepts is one module with schemas and capabilities', () => {
  assert.deepEqual(CONNECTOR_TYPES, ['postgres', 'ldap', 'scim', 'webhook', 'manual']);
  assert.equal(new Set(CONNECTOR_TYPES).size, connectorModules.length, 'each type once');
  for (const m of connectorModules) {
    assert.equal(typeof m.create, 'function', m.type);
    assert.equal(typeof m.settings.safeParse, 'function', m.type);
    assert.equal(typeof m.target.safeParse, 'function', m.type);
    assert.ok(!m.target.safeParse({}).success, `${m.type}: an empty target is refused`);
  }
  assert.equal(connectorModule('postgres')?.unavailable, undefined);
  assert.equal(connectorModule('toString'), undefined);
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

test('an unknown connector name or an unavailable type is a permanent TargetError naming it', async () => {
  const source = connectorSource(configs, { env: {}, dataDir: tmpdir() });
  await assert.rejects(source.get('nope'), (e: Error) => {
    assert.ok(e instanceof TargetError && e.message.includes('"nope"'), String(e));
    assert.equal(e.code, 'connector_not_configured');
    assert.equal(e.retryable, false);
    return true;
  });
  for (const [name, type] of [['odd', 'toString']]) {
    await assert.rejects(source.get(name!), (e: Error) => {
      assert.ok(e instanceof TargetError, String(e));
      assert.ok(e.message.includes(name!) && e.message.includes(type!), e.message);
      assert.equal(e.code, 'connector_unavailable');
      assert.equal(e.retryable, false);
      return true;
    });
  }
  await source.closeAll();
});

test('a listing a type cannot do fails on its first page with a permanent capability_unsupported', async () => {
  const pages = noListing('helpdesk')[Symbol.asyncIterator]();
  await assert.rejects(pages.next(), (e: Error) => {
    assert.ok(e instanceof TargetError, String(e));
    assert.equal(e.code, 'capability_unsupported');
    assert.equal(e.retryable, false);
    assert.match(e.message, /^connector helpdesk: /);
    return true;
  });
});
