import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, harness } from '../testing/harness.js';

/** User errors exit 1 with one line naming what and where; never a stack trace, never half a change. */
describe('bad input', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  const oneLine = (stderr: string) => {
    assert.equal(stderr.trim().split('\n').length, 1, `expected one line, got: ${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /);
  };

  test('an unknown flag is named', async () => {
    const r = await h.cli(['grants', '--colour', 'red']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--colour/);
    oneLine(r.stderr);
  });

  test('an unknown command is named', async () => {
    const r = await h.cli(['grant-everything']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown command "grant-everything"/);
  });

  test('unknown identities, entitlements, grants and requests are input errors, not decisions', async () => {
    const cases: [string[], RegExp][] = [
      [
        [
          'request',
          'github:read',
          '--for',
          'nobody@acme.test',
          '--reason',
          'x y z long enough',
          '--as',
          'bob@acme.test',
        ],
        /unknown identity "nobody@acme.test"/,
      ],
      [
        [
          'request',
          'github:nope',
          '--for',
          'bob@acme.test',
          '--reason',
          'x y z long enough',
          '--as',
          'bob@acme.test',
        ],
        /unknown entitlement "github:nope"/,
      ],
      [['approve', 'req_missing', '--as', 'carol@acme.test'], /unknown request "req_missing"/],
      [
        ['revoke', 'grt_missing', '--reason', 'gone', '--as', 'carol@acme.test'],
        /unknown grant "grt_missing"/,
      ],
      [['audit', 'trace', 'grt_missing'], /no request or grant with id grt_missing/],
    ];
    for (const [args, message] of cases) {
      const r = await h.cli(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
      oneLine(r.stderr);
      assert.deepEqual(Object.keys(r.json), ['error'], '--json still prints one JSON document');
    }
  });

  test('a malformed duration names the flag', async () => {
    const r = await h.cli([
      'request',
      'wiki:edit',
      '--for',
      'bob@acme.test',
      '--duration',
      '3 weeks',
      '--reason',
      'a real reason',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--duration: "3 weeks" is not a duration/);
  });

  test('a missing --as is named where one is needed', async () => {
    const r = await h.cli([
      'request',
      'wiki:edit',
      '--for',
      'bob@acme.test',
      '--reason',
      'a real reason',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /request needs --as ID/);
  });

  test('a malformed ticket reference is named', async () => {
    const r = await h.cli([
      'request',
      'github:admin',
      '--for',
      'bob@acme.test',
      '--ticket',
      'ITSM 42',
      '--reason',
      'a real reason',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ticket "ITSM 42" is not SYSTEM:KEY/);
  });

  test('a broken configuration names file and line, and nothing of it is applied', async () => {
    const before = (await h.cli(['report'])).json;
    const dir = configVariant(h.dir, {
      'apps/wiki.yaml': (t) =>
        t.replace(
          'max_duration: 365d\n    default_duration: 90d',
          'max_duration: 365x\n    default_duration: 90d',
        ),
      'sod.yaml': (t) =>
        `${t}- id: SOD-NEW\n  description: new\n  conflict: [[wiki:edit], [wiki:nothing]]\n`,
    });
    const r = await h.cli(['apply', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /apps\/wiki\.yaml:\d+: .*365x/);
    assert.match(r.stderr, /sod\.yaml:\d+: .*wiki:nothing/);
    const v = await h.cli(['validate', dir]);
    assert.equal(v.code, 1);
    assert.deepEqual((await h.cli(['report'])).json.grants_by_state, before.grants_by_state);
  });

  test('a bad snapshot row names its line, and no identity of the snapshot is applied', async () => {
    const r = await h.sync([
      'id,kind,status,display_name',
      'new1@acme.test,human,active,New One',
      'new2@acme.test,robot,active,New Two',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /snapshot-.*\.csv:3: .*robot/);
    assert.equal((await h.cli(['identities', 'show', 'new1@acme.test'])).code, 1);
  });

  test('apply is idempotent and --dry-run shows the grants a stricter policy would no longer permit', async () => {
    const again = await h.cli(['apply', new URL('../demo/acme', import.meta.url).pathname]);
    assert.equal(again.code, 0);
    assert.deepEqual(again.json.changes, []);
    const dir = configVariant(h.dir, {
      'policies/eligibility.cedar': (t) =>
        `${t}\n@id("finance-no-github")\n@reason("Finance does not use GitHub")\nforbid (principal, action == Action::"request", resource in App::"github") when { principal.department == "engineering" && principal.title == "director" };\n`,
    });
    const events = (await h.cli(['audit', 'verify'])).json.events;
    const dry = await h.cli(['apply', dir, '--dry-run']);
    assert.equal(dry.code, 0);
    assert.deepEqual(dry.json.changes, [
      { kind: 'policy', id: 'finance-no-github', change: 'added' },
    ]);
    assert.deepEqual(
      dry.json.impact.map(
        (i: { identity: string; entitlement: string; reason: string; rule: string }) => [
          i.identity,
          i.entitlement,
          i.reason,
          i.rule,
        ],
      ),
      [['carol@acme.test', 'github:read', 'forbidden_by_policy', 'finance-no-github']],
    );
    assert.equal(
      (await h.cli(['audit', 'verify'])).json.events,
      events,
      'a dry run writes nothing',
    );
    const real = await h.cli(['apply', dir]);
    assert.equal(real.json.changes.length, 1);
    assert.equal(
      (await h.cli(['audit', 'verify'])).json.events,
      events + 2,
      'one event for the change, one for the apply',
    );
  });
});
