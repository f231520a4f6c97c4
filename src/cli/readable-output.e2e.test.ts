import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Harness, harness } from '../testing/harness.js';
import { HELP_WIDTH } from './help.js';

const wide = (text: string) => text.split('\n').filter((l) => [...l].length > HELP_WIDTH);

describe('text output for people', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  test('audit trace reads as a timeline: time, what happened, by whom, the key facts', async () => {
    const r = await h.cli([
      'request',
      'analytics:writer',
      '--for',
      'heidi@acme.test',
      '--reason',
      'quarter-end revenue model',
      '--as',
      'heidi@acme.test',
    ]);
    await h.cli(['approve', r.json.id, '--comment', 'ok for Q3', '--as', 'carol@acme.test']);
    await h.cli(['sweep']);
    const t = await h.cli(['audit', 'trace', r.json.id], false);
    assert.equal(t.code, 0, t.stderr);
    assert.deepEqual(wide(t.stdout), []);
    assert.match(t.stdout, /^\d{4}-\d\d-\d\d$/m, 'a date line');
    assert.match(t.stdout, /^ {2}\d\d:\d\d:\d\d {2}request\.submitted/m);
    assert.match(t.stdout, /by heidi@acme\.test \(cli\) — analytics:writer for heidi@acme\.test/);
    assert.match(t.stdout, /by carol@acme\.test \(cli\) — stage 0 \(manager\) · "ok for Q3"/);
    assert.match(t.stdout, /grant\.activated[\s\S]*verified in the target; expires 20/);
    assert.doesNotMatch(t.stdout, /\{"/, 'no raw JSON');
    const j = await h.cli(['audit', 'trace', r.json.id]);
    assert.ok(j.json.events.every((e: { details: object }) => typeof e.details === 'object'));
  });

  test('report reads as labelled sections with units and what each figure means', async () => {
    const t = await h.cli(['report'], false);
    assert.equal(t.code, 0, t.stderr);
    assert.deepEqual(wide(t.stdout), []);
    for (const section of ['Revocation', 'Standing and privileged access', 'Speed'])
      assert.match(t.stdout, new RegExp(`^${section}$`, 'm'));
    assert.match(t.stdout, /^ {2}SLA breaches +\d+ grants$/m);
    assert.match(t.stdout, /^ {2}time to provision p50 \/ p95 +[\d.]+ (s|min|h) \/ /m);
    assert.match(t.stdout, /from when removal was due to when the target was read back/);
  });
});
