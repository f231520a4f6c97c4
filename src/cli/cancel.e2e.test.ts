import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';

/** `gatehouse cancel`, the twin of POST /api/v1/requests/{id}/cancel. */
describe('cancel', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('the requester cancels a pending request: it is closed as cancelled with the comment in the audit trail, and leaves the approver’s queue', async () => {
    const r = await h.cli([
      'request',
      'analytics:writer',
      '--for',
      'bob@acme.test',
      '--reason',
      WHY,
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(r.json.status, 'pending_approval');
    const c = await h.cli([
      'cancel',
      r.json.id,
      '--comment',
      'project dropped',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.json.status, 'cancelled');
    const text = await h.cli(['requests', '--approver', 'carol@acme.test']);
    assert.deepEqual(text.json.requests, []);
    const trace = await h.cli(['audit', 'trace', r.json.id]);
    const last = trace.json.events.at(-1);
    assert.equal(last.action, 'request.cancelled');
    assert.deepEqual(last.details, { via: 'cli', comment: 'project dropped' });
    const again = await h.cli(['cancel', r.json.id, '--as', 'bob@acme.test']);
    assert.equal(again.code, 1);
    assert.equal(again.json.error.code, 'not_pending');
  });

  test('someone else is refused with exit 2, and the refusal is audited as that person', async () => {
    const r = await h.cli([
      'request',
      'analytics:writer',
      '--for',
      'dan@acme.test',
      '--reason',
      WHY,
      '--as',
      'dan@acme.test',
    ]);
    const c = await h.cli(['cancel', r.json.id, '--as', 'carol@acme.test']);
    assert.equal(c.code, 2);
    assert.equal(c.json.error.code, 'cancel_not_allowed');
    const [refused] = await h.store.sql.query<{ actor: string; details: Record<string, string> }>(
      `SELECT actor, details FROM audit_events WHERE action = 'access.refused' ORDER BY seq DESC LIMIT 1`,
    );
    assert.equal(refused!.actor, 'carol@acme.test');
    assert.deepEqual(refused!.details, {
      code: 'cancel_not_allowed',
      operation: 'cancel',
      via: 'cli',
    });
    const still = await h.cli(['requests', '--approver', 'carol@acme.test']);
    assert.deepEqual(
      still.json.requests.map((x: { id: string }) => x.id),
      [r.json.id],
    );
    const verify = await h.cli(['audit', 'verify']);
    assert.equal(verify.json.ok, true, 'the refusal joined the hash chain');
  });
});
