import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eachCopyRow } from './copy-rows.js';

/** A binary COPY as PostgreSQL sends it: signature, flags, header extension, rows, trailer. */
function binaryCopy(rows: (Buffer | null)[][], extension = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')];
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  parts.push(int32(0), int32(extension.length), extension);
  for (const row of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(row.length);
    parts.push(count);
    for (const field of row)
      parts.push(field ? Buffer.concat([int32(field.length), field]) : int32(-1));
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

const ROWS = [
  [Buffer.from('one'), Buffer.from('é "q"\n'), null],
  [Buffer.alloc(0), null, Buffer.from([1])],
  [Buffer.from('x'.repeat(300))],
];

function read(chunks: Buffer[]): (string | null)[][] {
  const out: (string | null)[][] = [];
  eachCopyRow(chunks, (buf, f, count) => {
    const row: (string | null)[] = [];
    for (let i = 0; i < count; i++)
      row.push(
        f[2 * i + 1]! < 0 ? null : buf.toString('utf8', f[2 * i], f[2 * i]! + f[2 * i + 1]!),
      );
    out.push(row);
    return true;
  });
  return out;
}

test('binary COPY rows are read whole wherever the chunks split them', () => {
  const bytes = binaryCopy(ROWS, Buffer.from('ext'));
  const expected = ROWS.map((r) => r.map((f) => (f ? f.toString('utf8') : null)));
  assert.deepEqual(read([bytes]), expected);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(
      read([bytes.subarray(0, cut), bytes.subarray(cut)]),
      expected,
      `cut at ${cut}`,
    );
  }
  // One byte at a time: every row and the header arrive in pieces.
  assert.deepEqual(read([...bytes].map((b) => Buffer.from([b]))), expected);
});

test('reading stops when the row callback says so, and a COPY without its trailer throws', () => {
  const bytes = binaryCopy(ROWS);
  let seen = 0;
  assert.equal(
    eachCopyRow([bytes], () => ++seen < 2),
    false,
  );
  assert.equal(seen, 2);
  assert.throws(
    () => eachCopyRow([bytes.subarray(0, bytes.length - 2)], () => true),
    /ended early/,
  );
  assert.throws(
    () => eachCopyRow([Buffer.from('this is plainly not a binary COPY')], () => true),
    /not a binary COPY/,
  );
});
