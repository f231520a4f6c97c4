import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCommandIndex } from './command-index-build.js';
import { commandNameOf, readCommandIndex } from './command-index.js';

test('the built command index holds the names, options and help the command table gives', () => {
  assert.deepEqual(readCommandIndex(), buildCommandIndex());
});

test('a flag’s value is not taken for a command word, and two words win over one', () => {
  const { options, commands } = buildCommandIndex();
  const names = commands.map((c) => c.name);
  assert.equal(commandNameOf(['--data', 'grants', 'requests'], options, names), 'requests');
  assert.equal(commandNameOf(['grants', 'retry', 'grt_1'], options, names), 'grants retry');
  assert.equal(commandNameOf(['grants', 'grt_1'], options, names), 'grants');
  assert.equal(commandNameOf(['--json'], options, names), undefined);
});
