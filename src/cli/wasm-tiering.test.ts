import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from './commands/index.js';
import { LONG_RUNNING } from './wasm-tiering.js';

test('every command kept on the optimising WebAssembly tier is a command the CLI has', () => {
  const names = new Set(COMMANDS.map((c) => c.name));
  for (const name of LONG_RUNNING) assert.ok(names.has(name), `${name} is not a command`);
});
