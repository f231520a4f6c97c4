/**
 * Rows of PostgreSQL's binary COPY format (`COPY … TO STDOUT (FORMAT binary)`: a signature and
 * header, then per row a 16-bit field count and per field a 32-bit length, -1 for NULL, and the
 * bytes; a count of -1 ends it), read in place: no row object, no string, unless the caller
 * makes one. A row split between two chunks is joined first.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Called per row with the buffer holding it and, for field i, its start at `fields[2i]` and its
 * length (-1: NULL) at `fields[2i + 1]`; both valid only during the call. Answering false stops
 * the reading.
 */
export type CopyRow = (buf: Buffer, fields: Int32Array, count: number) => boolean;

/** Reads every row of `chunks` in order; false if `row` stopped it. Malformed bytes throw. */
export function eachCopyRow(chunks: Buffer[], row: CopyRow): boolean {
  let fields = new Int32Array(32);
  let carry: Buffer | undefined;
  let headerRead = false;
  let ended = false;
  for (const chunk of chunks) {
    const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    carry = undefined;
    let o = 0;
    if (!headerRead) {
      if (buf.length < 19) {
        carry = buf;
        continue;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a binary COPY');
      const extension = buf.readInt32BE(15);
      if (buf.length < 19 + extension) {
        carry = buf;
        continue;
      }
      o = 19 + extension;
      headerRead = true;
    }
    for (;;) {
      if (buf.length - o < 2) break;
      const count = buf.readInt16BE(o);
      if (count === -1) {
        ended = true;
        o += 2;
        break;
      }
      if (count * 2 > fields.length) fields = new Int32Array(count * 2);
      let p = o + 2;
      let whole = true;
      for (let i = 0; i < count; i++) {
        if (buf.length - p < 4) {
          whole = false;
          break;
        }
        const length = buf.readInt32BE(p);
        p += 4;
        const size = length < 0 ? 0 : length;
        if (buf.length - p < size) {
          whole = false;
          break;
        }
        fields[2 * i] = p;
        fields[2 * i + 1] = length;
        p += size;
      }
      if (!whole) break;
      if (!row(buf, fields, count)) return false;
      o = p;
    }
    if (ended) break;
    if (o < buf.length) carry = buf.subarray(o);
  }
  if (!ended) throw new Error('binary COPY ended early: no trailer');
  return true;
}
