import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configVariant } from '../testing/config-variant.js';
import { type Harness, PEOPLE_HEADER, harness } from '../testing/harness.js';

/** Hostile or absurd input is a user error (exit 1, one line naming what and where), never exit 3. */
describe('hostile input', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());

  const oneLine = (stderr: string) => {
    assert.equal(stderr.trim().split('\n').length, 1, `expected one line, got: ${stderr}`);
    assert.doesNotMatch(stderr, /internal error|\n\s+at /);
  };
  const auditCount = async () =>
    Number(
      (await h.store.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events'))[0]!.n,
    );

  test('apply of an unchanged directory with unsorted group members writes nothing', async () => {
    const dir = configVariant(h.dir, {
      'groups.yaml': (t) =>
        t.replace('[sam@acme.test, sue@acme.test]', '[sue@acme.test, sam@acme.test]'),
    });
    assert.equal((await h.cli(['apply', dir])).code, 0);
    const before = await auditCount();
    const again = await h.cli(['apply', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.json.changes, []);
    assert.equal(await auditCount(), before, 'no audit event for an unchanged directory');
  });

  test('a duration above 68 years names the flag', async () => {
    const r = await h.cli([
      'request',
      'wiki:edit',
      '--for',
      'bob@acme.test',
      '--duration',
      '100000d',
      '--reason',
      'a real reason',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--duration: "100000d" is too long/);
    oneLine(r.stderr);
    assert.equal(r.json.error.code, 'duration_too_long');
  });

  test('a serve interval beyond what a timer can hold is an input error', async () => {
    const r = await h.cli(['serve', '--interval', '30d', '--port', '0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--interval: "30d" is too long \(at most 24d/);
    oneLine(r.stderr);
  });

  test('a YAML alias bomb in a configuration is an input error naming the file', async () => {
    const laughs = [
      'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
      ...'bcdefg'
        .split('')
        .map((x, i) => `${x}: &${x} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`),
    ].join('\n');
    const dir = configVariant(h.dir, { 'sod.yaml': () => `${laughs}\n` });
    const r = await h.cli(['validate', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /sod\.yaml:1: too many YAML aliases/);
  });

  test('deeply nested Cedar is an input error naming the file and line', async () => {
    const dir = configVariant(h.dir, {
      'policies/deep.cedar': () =>
        `@id("deep")\npermit (principal, action, resource)\nwhen { ${'('.repeat(10000)}true${')'.repeat(10000)} };\n`,
    });
    const r = await h.cli(['validate', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /policies\/deep\.cedar:3: expressions are nested more than 32 deep/);
    // Decisions, which share the Cedar module, still work.
    const after = await h.cli([
      'explain',
      'wiki:read',
      '--for',
      'bob@acme.test',
      '--as',
      'bob@acme.test',
    ]);
    assert.notEqual(after.code, 3, after.stderr);
  });

  test('NUL bytes and lone surrogates in a snapshot are input errors naming the row', async () => {
    const csv = await h.sync([PEOPLE_HEADER, 'nul\u0000@acme.test,human,active,N,x,,,,,']);
    assert.equal(csv.code, 1, csv.stderr);
    assert.match(csv.stderr, /snapshot-\w+\.csv:2: id: holds a NUL character/);
    oneLine(csv.stderr);
    const file = join(h.dir, 'people.json');
    writeFileSync(
      file,
      '[{"id":"x@acme.test","kind":"human","status":"active","display_name":"\\ud800"}]',
    );
    const json = await h.cli(['identities', 'sync', file]);
    assert.equal(json.code, 1, json.stderr);
    assert.match(
      json.stderr,
      /people\.json: identities\[0\]: "display_name" holds a lone UTF-16 surrogate/,
    );
  });

  test('an identity id with a newline or escape sequence cannot forge a line of stderr', async () => {
    const r = await h.cli([
      'request',
      'wiki:edit',
      '--for',
      'nobody\nerror: \u001b[31mforged',
      '--reason',
      'a real reason',
      '--as',
      'bob@acme.test',
    ]);
    assert.equal(r.code, 1);
    oneLine(r.stderr);
    assert.match(r.stderr, /nobody\\nerror: \\u001b\[31mforged/);
    assert.equal(r.json.error.message.includes('\n'), true, '--json keeps the value as it is');
  });
});
