import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gatehouse } from '../app/gatehouse.js';
import { loadConfigDir } from '../config/load.js';
import { loadSnapshot } from '../config/snapshot.js';
import { connectorSource } from '../connectors/registry.js';
import { CatalogCache } from '../core/catalog/catalog.js';
import { fixedClock } from '../core/clock.js';
import { DEMO_PEOPLE } from '../demo/seed.js';
import { migrationFiles } from '../store/migrate.js';
import { testStore } from '../store/test-store.js';
import { configVariant } from '../testing/config-variant.js';
import { taskObject } from './routes-tasks.js';
import { buildServer } from './server.js';
import * as shapes from './shapes.js';

const CONNECTOR = `
- name: facilities
  type: manual
  fulfillers: security
  sla: 1d
`;
const APP = `id: badges
name: Door badges
risk: medium
owner: erin@acme.test
connector: facilities
entitlements:
  - id: badges:server-room
    max_duration: 30d
    default_duration: 7d
    target: { door: server-room }
`;

test('GET /api/v1/tasks lists what the caller may fulfil, and POST …/fulfil is the attestation, refused to non-members', async () => {
  const store = await testStore();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tasks-api-'));
  const clock = fixedClock('2026-05-01T09:00:00Z');
  const catalog = new CatalogCache();
  const connectors = connectorSource(
    async (name) => (await catalog.get(store.sql)).connectors.get(name),
    { env: {}, dataDir: dir },
  );
  const app = gatehouse({ sql: store.sql, clock, catalog, connectors, workerId: 'api-test' });
  const server = await buildServer(app, { schemaVersion: migrationFiles().at(-1)!.version });
  try {
    const cfg = configVariant(dir, {
      'connectors.yaml': (t) => t + CONNECTOR,
      'apps/badges.yaml': () => APP,
    });
    await app.apply((await loadConfigDir(cfg)).config, 'test', false);
    await app.sync(await loadSnapshot(DEMO_PEOPLE), 'test', ['human']);
    const req = await app.request({
      requester: 'dan@acme.test',
      via: 'cli',
      beneficiary: 'dan@acme.test',
      entitlement: 'badges:server-room',
      justification: 'on call for the data centre',
      duration: undefined,
      ticket: null,
      emergency: false,
    });
    await app.act(req.id!, 'carol@acme.test', 'approve', '', 'cli');
    await app.sweep();

    const token = async (identity: string, scopes: string) =>
      (await app.createToken({ identity, scopes, actor: 'test', via: 'cli' })).token;
    const call = (method: 'GET' | 'POST', url: string, t: string, body?: object) =>
      server.inject({
        method,
        url,
        headers: { authorization: `Bearer ${t}` },
        ...(body ? { payload: body } : {}),
      });
    const sam = await token('sam@acme.test', 'approve,read');
    const carol = await token('carol@acme.test', 'approve,read');
    const auditor = await token('rita@acme.test', 'audit');

    const samsList = await call('GET', '/api/v1/tasks', sam);
    assert.equal(samsList.statusCode, 200, samsList.body);
    const tasks = samsList.json().tasks.map((t: unknown) => taskObject.parse(t));
    assert.equal(tasks.length, 1);
    const task = tasks[0]!;
    assert.equal(task.identity, 'dan@acme.test');
    assert.equal(task.op, 'apply');
    assert.deepEqual((await call('GET', '/api/v1/tasks', carol)).json().tasks, []);
    assert.equal((await call('GET', '/api/v1/tasks', auditor)).json().tasks.length, 1);
    const bad = await call('GET', '/api/v1/tasks?state=soon', sam);
    assert.equal(bad.statusCode, 400);

    const scrape = await call('GET', '/metrics', await token('rita@acme.test', 'metrics'));
    assert.match(scrape.body, /^gatehouse_fulfilment_tasks_open\{due="all"\} 1$/m);
    assert.match(scrape.body, /^gatehouse_fulfilment_tasks_open\{due="overdue"\} 0$/m);
    const waiting = (await call('GET', `/api/v1/grants/${task.grant}`, auditor)).json();
    assert.equal(waiting.state, 'provisioning');
    assert.deepEqual(waiting.task, {
      id: task.id,
      op: 'apply',
      due_at: '2026-05-02T09:00:00.000Z',
      overdue: false,
    });
    const refused = await call('POST', `/api/v1/tasks/${task.id}/fulfil`, carol, {
      outcome: 'done',
    });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error.code, 'not_fulfiller');
    const wrong = await call('POST', `/api/v1/tasks/${task.id}/fulfil`, sam, { outcome: 'maybe' });
    assert.equal(wrong.statusCode, 400);

    const done = await call('POST', `/api/v1/tasks/${task.id}/fulfil`, sam, {
      outcome: 'done',
      comment: 'badge programmed',
    });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(taskObject.parse(done.json()).state, 'done');
    const g = shapes.grantObject.parse(
      (await call('GET', `/api/v1/grants/${task.grant}`, auditor)).json(),
    );
    assert.equal(g.state, 'active');
    assert.equal(g.verification, 'attested');
    assert.equal(g.attested_by, 'sam@acme.test');
    const [event] = await store.sql.query<{ details: { via: string } }>(
      `SELECT details FROM audit_events WHERE action = 'task.fulfilled' AND subject = $1`,
      [task.id],
    );
    assert.equal(event!.details.via, 'api');
  } finally {
    await server.close();
    await connectors.closeAll();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
