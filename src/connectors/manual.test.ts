import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigDir } from '../config/load.js';
import { ConfigError } from '../config/issues.js';
import { InputError, TargetError } from '../core/errors.js';
import { collectAssignments } from '../core/ports/connector.js';
import { DEFAULT_SLA_SECONDS, manualModule } from './manual.js';
import { connectorModule } from './modules.js';

const make = (settings: Record<string, unknown>) =>
  manualModule.create(
    { name: 'facilities', type: 'manual', settings },
    { env: {}, dataDir: '/nonexistent' },
  );
const ref = { account: 'dan@acme.test', target: { door: 'server-room' } };

test('the manual connector answers every change pending, with a task id, its group, SLA and instructions', async () => {
  assert.equal(connectorModule('manual'), manualModule);
  assert.equal(manualModule.unavailable, undefined);
  const c = await make({ fulfillers: 'security', sla: '4h', instructions: 'Use the console.' });
  assert.deepEqual(c.capabilities, manualModule.capabilities);
  const applied = await c.apply(ref);
  assert.ok(applied && applied.pending);
  assert.match(applied.task!, /^tsk_[0-9a-f]{16}$/);
  assert.equal(applied.fulfillers, 'security');
  assert.equal(applied.dueInSeconds, 4 * 3600);
  assert.equal(applied.instructions, 'Use the console.');
  const revoked = await c.revoke(ref);
  assert.ok(revoked && revoked.pending);
  assert.notEqual(revoked.task, applied.task, 'each change is its own task');
  const plain = await make({});
  const p = await plain.apply(ref);
  assert.ok(p && p.pending);
  assert.equal(p.fulfillers, undefined, 'the core falls back to the governance group');
  assert.equal(p.dueInSeconds, DEFAULT_SLA_SECONDS);
});

test('the manual connector cannot read back or list, and refuses an empty target, permanently', async () => {
  const c = await make({});
  for (const call of [
    c.readBack(ref),
    collectAssignments(c.listAll([ref.target])),
    c.apply({ account: 'x', target: {} }),
    c.revoke({ account: 'x', target: {} }),
  ]) {
    const err = await call.then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TargetError, String(err));
    assert.equal(err.retryable, false);
  }
  await c.close();
  const closed = await c.apply(ref).catch((e: unknown) => e);
  assert.ok(closed instanceof TargetError && closed.code === 'connector_closed');
  await assert.rejects(make({ sla: 'soon' }), InputError);
  assert.ok(!manualModule.settings.safeParse({ fulfilers: 'security' }).success, 'a typo');
});

test('validate names a fulfilling group that is not defined, at its line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-manual-cfg-'));
  try {
    await cp(join(process.cwd(), 'src/config/fixtures/acme'), dir, { recursive: true });
    const file = join(dir, 'connectors.yaml');
    const text = await readFile(file, 'utf8');
    await writeFile(
      file,
      text.replace('  type: manual\n', '  type: manual\n  fulfillers: securty\n'),
    );
    const err = await loadConfigDir(dir).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError, String(err));
    const hit = err.issues.find((i) =>
      /fulfillers: group "securty" is not defined/.test(i.message),
    );
    assert.ok(hit, err.issues.map((i) => i.message).join('\n'));
    assert.equal(hit.file, 'connectors.yaml');
    assert.equal(hit.line, 17);
    assert.match(hit.message, /did you mean "security"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
