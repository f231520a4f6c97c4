import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from './commands/index.js';
import { HELP_WIDTH, commandHelp, helpGaps, overview } from './help.js';
import { runCli } from './run.js';

const wide = (text: string) => text.split('\n').filter((l) => [...l].length > HELP_WIDTH);

test('gatehouse --help lists every command and fits 100 columns', async () => {
  const out: string[] = [];
  const code = await runCli(
    ['--help'],
    { stdout: (t) => out.push(t), stderr: () => {} },
    {
      env: {},
      cwd: process.cwd(),
    },
  );
  assert.equal(code, 0);
  const text = out.join('\n');
  assert.equal(text, overview(COMMANDS));
  assert.deepEqual(wide(text), []);
  for (const c of COMMANDS) assert.match(text, new RegExp(`^  ${c.name} `, 'm'));
});

test('every command’s help names each option with a sentence and an example, within 100 columns', () => {
  for (const c of COMMANDS) {
    assert.deepEqual(helpGaps(c), [], c.name);
    const text = commandHelp(c);
    assert.deepEqual(wide(text), [], c.name);
    for (const o of Object.keys(c.options ?? {})) assert.match(text, new RegExp(`--${o}\\b`));
    assert.match(text, /^Examples?:$/m, c.name);
  }
});

test('request --help explains its options and shows an example', async () => {
  const out: string[] = [];
  await runCli(
    ['request', '--help'],
    { stdout: (t) => out.push(t), stderr: () => {} },
    {
      env: {},
      cwd: process.cwd(),
    },
  );
  const text = out.join('\n');
  assert.match(text, /--for VALUE\s+The identity who would hold the access\./);
  assert.match(text, /--emergency\s+Break-glass/);
  assert.match(text, /^ {2}gatehouse request analytics:writer/m);
});
