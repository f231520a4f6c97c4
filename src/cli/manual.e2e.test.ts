import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';

const WHY = 'on call for the data centre this month';
const CONNECTOR = `
- name: facilities
  type: manual
  fulfillers: security
  sla: 2d
  instructions: Program the badge in the facilities console, then fulfil the task.
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
    target: { door: server-room, site: berlin }
`;

type Task = { id: string; grant: string; op: string; state: string; overdue: boolean };

/**
 * A target with no API: applying opens a fulfilment task that a member of the connector's
 * fulfilling group closes (`fulfil`), and the grant is active on their attestation, recorded as
 * such; revocation goes the same way; overdue tasks and attested grants show in lists and report.
 */
describe('manual connector: people fulfil, Gatehouse records their attestation', () => {
  let h: Harness;
  before(async () => {
    const parent = mkdtempSync(join(tmpdir(), 'gatehouse-manual-'));
    h = await harness({
      config: configVariant(parent, {
        'connectors.yaml': (t) => t + CONNECTOR,
        'apps/badges.yaml': () => APP,
      }),
    });
  });
  after(() => h.close());

  /** Requested by the beneficiary, approved by their manager Carol, applied by a sweep. */
  async function approvedFor(who: string): Promise<{ grant: string; task: Task }> {
    const r = await h.cli([
      'request',
      'badges:server-room',
      '--for',
      who,
      '--reason',
      WHY,
      '--as',
      who,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const a = await h.cli(['approve', r.json.id, '--as', 'carol@acme.test']);
    assert.equal(a.json.status, 'approved', a.stderr);
    const swept = await h.cli(['sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    const grant = a.json.grant.id as string;
    const tasks = (await h.cli(['tasks'])).json.tasks as Task[];
    return { grant, task: tasks.find((t) => t.grant === grant)! };
  }
  const grant = async (who: string, id: string) =>
    ((await h.cli(['grants', '--identity', who])).json.grants as Record<string, unknown>[]).find(
      (g) => g.id === id,
    )!;

  test('approval opens a task for the fulfilling group; a member fulfils it and the grant is active, attested', async () => {
    const { grant: id, task } = await approvedFor('dan@acme.test');
    assert.ok(task, 'a task was opened');
    assert.equal(task.op, 'apply');
    let g = await grant('dan@acme.test', id);
    assert.equal(g.state, 'provisioning');
    assert.deepEqual(g.task, {
      id: task.id,
      op: 'apply',
      due_at: '2026-03-04T09:00:00.000Z',
      overdue: false,
    });
    const mine = await h.cli(['tasks', '--fulfiller', 'sam@acme.test']);
    assert.deepEqual(
      mine.json.tasks.map((t: Task) => t.id),
      [task.id],
    );
    assert.equal(mine.json.tasks[0].instructions.startsWith('Program the badge'), true);
    assert.deepEqual(mine.json.tasks[0].target, { door: 'server-room', site: 'berlin' });
    assert.deepEqual((await h.cli(['tasks', '--fulfiller', 'carol@acme.test'])).json.tasks, []);

    // The job is done: another sweep neither retries nor opens a second task.
    const again = await h.cli(['sweep']);
    assert.equal(again.json.jobs_done, 0);
    assert.equal(again.json.jobs_failed, 0);
    assert.equal((await h.cli(['tasks'])).json.tasks.length, 1);

    h.advance(3600);
    const done = await h.cli([
      'fulfil',
      task.id,
      'done',
      '--comment',
      'badge 4411 programmed',
      '--as',
      'sam@acme.test',
    ]);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.json.state, 'done');
    assert.equal(done.json.closed_by, 'sam@acme.test');
    g = await grant('dan@acme.test', id);
    assert.equal(g.state, 'active');
    assert.equal(g.verification, 'attested');
    assert.equal(g.attested_by, 'sam@acme.test');
    assert.equal(g.verified_at, null, 'nothing read the target back');
    assert.equal(g.granted_at, h.now);
    assert.equal(g.expires_at, '2026-03-09T10:00:00.000Z', 'the duration runs from attestation');
    assert.equal(g.task, null);

    const trace = await h.cli(['audit', 'trace', id]);
    const events = trace.json.events as {
      action: string;
      actor: string;
      details: Record<string, unknown>;
    }[];
    const actions = events.map((e) => e.action);
    for (const a of ['grant.created', 'task.opened', 'task.fulfilled', 'grant.activated'])
      assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
    const activated = events.find((e) => e.action === 'grant.activated')!;
    assert.equal(activated.actor, 'sam@acme.test');
    assert.equal(activated.details.attested, true);
    assert.equal(activated.details.verified, false);
    assert.equal((await h.cli(['audit', 'verify'])).code, 0);
  });

  test('a non-member is refused (exit 2), and nobody fulfils a task for their own access', async () => {
    const { task } = await approvedFor('sam@acme.test');
    const outsider = await h.cli(['fulfil', task.id, 'done', '--as', 'carol@acme.test']);
    assert.equal(outsider.code, 2);
    assert.match(
      outsider.stderr,
      /carol@acme.test may not fulfil task tsk_\w+: only members of group security/,
    );
    const self = await h.cli(['fulfil', task.id, 'done', '--as', 'sam@acme.test']);
    assert.equal(self.code, 2);
    assert.match(self.stderr, /nobody fulfils a task for their own access/);
    const unknown = await h.cli(['fulfil', 'tsk_nope', 'done', '--as', 'sue@acme.test']);
    assert.equal(unknown.code, 1);
    const noWhy = await h.cli(['fulfil', task.id, 'failed', '--as', 'sue@acme.test']);
    assert.equal(noWhy.code, 1);
    assert.match(noWhy.stderr, /a failed task needs a comment/);
    const ok = await h.cli(['fulfil', task.id, 'done', '--as', 'sue@acme.test']);
    assert.equal(ok.code, 0, ok.stderr);
    const twice = await h.cli(['fulfil', task.id, 'done', '--as', 'sue@acme.test']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /is done \(by sue@acme.test\); only an open task can be fulfilled/);
  });

  test('revocation opens a revoke task; done by a member, the grant is revoked with its latency', async () => {
    const { grant: id, task } = await approvedFor('alice@acme.test');
    await h.cli(['fulfil', task.id, 'done', '--as', 'sue@acme.test']);
    const r = await h.cli(['revoke', id, '--reason', 'rotation ended', '--as', 'alice@acme.test']);
    assert.equal(r.code, 0, r.stderr);
    await h.cli(['sweep']);
    const g = await grant('alice@acme.test', id);
    assert.equal(g.state, 'revoking');
    const revokeTask = (g.task as { id: string; op: string }) ?? assert.fail('a revoke task');
    assert.equal(revokeTask.op, 'revoke');
    h.advance(1800);
    assert.equal((await h.cli(['sweep'])).json.jobs_done, 0, 'nothing retried meanwhile');
    const done = await h.cli(['fulfil', revokeTask.id, 'done', '--as', 'sam@acme.test']);
    assert.equal(done.code, 0, done.stderr);
    const after = await grant('alice@acme.test', id);
    assert.equal(after.state, 'revoked');
    assert.equal(after.revocation_latency_seconds, 1800, 'from when removal was asked for');
    assert.equal(after.removal_attested_by, 'sam@acme.test');
  });

  test('a failed apply task fails the grant with the fulfiller’s comment', async () => {
    const { grant: id, task } = await approvedFor('bob@acme.test');
    const f = await h.cli([
      'fulfil',
      task.id,
      'failed',
      '--comment',
      'no badge on file',
      '--as',
      'sue@acme.test',
    ]);
    assert.equal(f.code, 0, f.stderr);
    const g = await grant('bob@acme.test', id);
    assert.equal(g.state, 'failed');
    assert.match(String(g.failure), /failed \(sue@acme.test\): no badge on file/);
  });

  test('a task past its SLA is overdue in grants, tasks and report, which counts attested grants', async () => {
    const { grant: id, task } = await approvedFor('heidi@acme.test');
    h.advance(3 * 86400);
    const g = await grant('heidi@acme.test', id);
    assert.equal((g.task as { overdue: boolean }).overdue, true);
    const text = await h.cli(['grants', '--identity', 'heidi@acme.test'], { text: true });
    assert.match(
      text.stdout,
      new RegExp(`${id} waits on apply task ${task.id}, due .* \\(OVERDUE\\)`),
    );
    const overdue = await h.cli(['tasks', '--overdue']);
    assert.deepEqual(
      overdue.json.tasks.map((t: Task) => [t.id, t.overdue]),
      [[task.id, true]],
    );
    const report = await h.cli(['report']);
    assert.equal(report.json.tasks_open, 1);
    assert.equal(report.json.tasks_overdue, 1);
    // dan's and sam's badges are attested; the demo's birthright grants were read back.
    assert.equal(report.json.grants_attested, 2);
    assert.ok(report.json.grants_verified_by_read_back > 0);
    const shown = await h.cli(['report'], { text: true });
    assert.match(shown.stdout, /overdue fulfilment tasks\s+1/);
  });
});
