import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable, table } from './format.js';

test('text output escapes control characters, so an id cannot forge lines or drive the terminal', () => {
  const out = table([{ id: 'evil\nforged  row', state: '\u001b[2Jactive\u202e' }], ['id', 'state']);
  assert.equal(out.split('\n').length, 2);
  assert.match(out, /evil\\nforged {2}row {2}\\u001b\[2Jactive\\u202e/);
  assert.equal(printable('tab\there\r\u0000'), 'tab\\there\\r\\u0000');
  assert.equal(printable('plain ünïcode ✓'), 'plain ünïcode ✓');
});
