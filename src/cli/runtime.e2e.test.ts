import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';

const WHY = 'needed for the quarterly close';

/** Failures where people look: sweep's stderr and exit code, the grants listing, grants retry. */
describe('target failures in the CLI', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('sweep prints each retrying or failed change on stderr and exits 3; the grants listing shows the last error; grants retry re-queues a failed apply, for the holder, its manager or the requester only', async () => {
    // A target that refuses connections (nothing listens on port 1): a failure worth retrying.
    const dir = configVariant(h.dir, {
      'connectors.yaml': (t) =>
        `${t}- name: down-db\n  type: postgres\n  url: postgres://gatehouse@127.0.0.1:1/none\n`,
      'apps/legacy.yaml': () =>
        [
          'id: legacy',
          'name: Legacy wiki',
          'risk: low',
          'owner: erin@acme.test',
          'connector: down-db',
          'entitlements:',
          '  - id: legacy:admin',
          '    max_duration: 30d',
          '    target: { role: legacy_admin }',
          '',
        ].join('\n'),
    });
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const r = await h.cli([
      'request',
      'legacy:admin',
      '--for',
      'sam@acme.test',
      '--reason',
      WHY,
      '--as',
      'sam@acme.test',
    ]);
    await h.cli(['approve', r.json.id, '--as', 'carol@acme.test']);
    const grantId: string = (
      await h.cli(['grants', '--identity', 'sam@acme.test'])
    ).json.grants.find((g: { entitlement: string }) => g.entitlement === 'legacy:admin').id;

    const first = await h.cli(['sweep']);
    assert.equal(first.code, 3, 'a target failed during the run');
    assert.equal(first.json.jobs_failed, 1);
    assert.match(
      first.stderr,
      new RegExp(
        `^retrying: apply ${grantId} on down-db \\(attempt 1, next at [^)]+\\): .*cannot reach the target database at 127\\.0\\.0\\.1:1`,
      ),
    );
    const listed = await h.cli(['grants', '--identity', 'sam@acme.test'], { text: true });
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /last errors:/);
    assert.match(
      listed.stdout,
      new RegExp(
        `  ${grantId} provisioning: apply attempt 1 failed: .*cannot reach the target database at 127\\.0\\.0\\.1:1`,
      ),
    );
    const report = await h.cli(['report']);
    assert.equal(report.json.grants_retrying, 1);

    // Nothing due: a quiet sweep exits 0 and prints nothing on stderr.
    const quiet = await h.cli(['sweep']);
    assert.deepEqual([quiet.code, quiet.stderr], [0, '']);

    for (let attempt = 2; attempt <= 5; attempt++) {
      h.advance(3 * 3600);
      const s = await h.cli(['sweep']);
      assert.equal(s.code, 3);
      assert.match(s.stderr, attempt < 5 ? /^retrying: apply / : /^failed: apply .*not retried/);
    }
    const failed = await h.cli(['grants', '--state', 'failed'], { text: true });
    assert.match(failed.stdout, new RegExp(`  ${grantId} failed: apply failed after 5 attempts`));
    const after5 = await h.cli(['report']);
    assert.equal(after5.json.failed_applies, 1);
    assert.equal(after5.json.grants_retrying, 0);

    const stranger = await h.cli(['grants', 'retry', grantId, '--as', 'bob@acme.test']);
    assert.equal(stranger.code, 2, stranger.stderr);
    assert.equal(stranger.json.error.code, 'retry_not_allowed');
    const notFailed = await h.cli([
      'grants',
      'retry',
      grantId.replace(/.$/, 'x'),
      '--as',
      'sam@acme.test',
    ]);
    assert.equal(notFailed.code, 1);

    const retried = await h.cli(['grants', 'retry', grantId, '--as', 'carol@acme.test']);
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(retried.json.state, 'provisioning');
    assert.equal(retried.json.failure, null);
    const again = await h.cli(['grants', 'retry', grantId, '--as', 'sam@acme.test']);
    assert.equal(again.code, 1, 'only a failed grant can be retried');
    assert.equal(again.json.error.code, 'grant_not_failed');

    // The role is still missing: the fresh apply starts again from attempt 1.
    const s = await h.cli(['sweep']);
    assert.equal(s.code, 3);
    assert.match(s.stderr, new RegExp(`^retrying: apply ${grantId} on down-db \\(attempt 1,`));
    const trail = await h.cli(['audit', 'trace', grantId]);
    const actions: string[] = trail.json.events.map((e: { action: string }) => e.action);
    assert.ok(actions.includes('grant.retry_requested'), actions.join(', '));
  });
});
