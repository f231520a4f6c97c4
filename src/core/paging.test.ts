import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from './errors.js';
import { cutPage, decodeCursor, encodeCursor, pageLimit } from './paging.js';

const AT = '2026-03-02T09:00:00.123456Z';

describe('paging', () => {
  test('a cursor gives back the key it was made from, for the list that made it', () => {
    const c = encodeCursor('grants', [AT, 'grt_1']);
    assert.match(c, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(c, 'grants', ['instant', 'text']), [AT, 'grt_1']);
    assert.equal(decodeCursor(undefined, 'grants', ['instant', 'text']), undefined);
  });

  test('a malformed cursor, or one of another list, is an input error on the field cursor', () => {
    const bad = [
      'not a cursor',
      '',
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from('not json').toString('base64url'),
      encodeCursor('grants', ['2026-03-02T09:00:00Z', 'grt_1']),
      encodeCursor('grants', [AT]),
      encodeCursor('identities', ['x']),
      Buffer.from(JSON.stringify(['grants', AT, 7])).toString('base64url'),
    ];
    for (const c of bad) {
      assert.throws(
        () => decodeCursor(c, 'grants', ['instant', 'text']),
        (e: unknown) =>
          e instanceof InputError &&
          e.code === 'invalid_cursor' &&
          e.field === 'cursor' &&
          e.message.startsWith('cursor '),
        c,
      );
    }
  });

  test('the page size defaults to 100 and must be a whole number from 1 to 1000', () => {
    assert.equal(pageLimit(undefined), 100);
    assert.equal(pageLimit('1000'), 1000);
    assert.equal(pageLimit(1), 1);
    for (const bad of [0, 1001, 2.5, '', 'ten', '1e3', '-1']) {
      assert.throws(
        () => pageLimit(bad),
        (e: unknown) =>
          e instanceof InputError && e.code === 'invalid_limit' && e.field === 'limit',
        String(bad),
      );
    }
  });

  test('the next cursor is the key of the last row shown, and null when no row follows', () => {
    const rows = [1, 2, 3].map((n) => ({ id: `r${n}` }));
    assert.deepEqual(
      cutPage(rows, 3, 't', (r) => [r.id]),
      { rows, next_cursor: null },
    );
    const cut = cutPage(rows, 2, 't', (r) => [r.id]);
    assert.deepEqual(cut.rows, rows.slice(0, 2));
    assert.deepEqual(decodeCursor(cut.next_cursor!, 't', ['text']), ['r2']);
  });
});
