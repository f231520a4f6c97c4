import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from './errors.js';
import { formatDuration, parseDuration } from './duration.js';

test('durations are whole numbers of s, m, h, d or w', () => {
  assert.equal(parseDuration('90d'), 90 * 86400);
  assert.equal(parseDuration('8h'), 8 * 3600);
  assert.equal(parseDuration('2w'), 14 * 86400);
  for (const bad of ['', '8', '1.5h', '-1d', '0h', '3 weeks', '8hours']) {
    assert.throws(
      () => parseDuration(bad, '--duration'),
      (e: unknown) => e instanceof InputError && /--duration/.test((e as Error).message),
      bad,
    );
  }
});

test('durations are shown in the largest whole unit, or in parts to the minute', () => {
  assert.equal(formatDuration(7 * 86400), '7d');
  assert.equal(formatDuration(36 * 3600), '36h');
  assert.equal(formatDuration(30 * 86400 + 4 * 3600 + 10 * 60 + 10), '30d4h10m');
});
