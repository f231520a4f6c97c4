import { InputError } from './errors.js';

/**
 * Keyset paging for every list. A page is read with `WHERE (key…) > (last key…) ORDER BY key…
 * LIMIT n + 1` on an index whose columns are the key, so page 10,000 costs what page 1 costs and
 * nothing is skipped or repeated while rows are added. The cursor is the last row's key, tagged
 * with the list and ordering it belongs to, as base64url JSON: opaque to callers, checked here.
 */
export interface PageInput {
  /** Rows per page; a string is parsed (query strings, command-line options). */
  limit?: number | string | undefined;
  /** `next_cursor` of the previous page; absent for the first page. */
  cursor?: string | undefined;
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function pageLimit(limit: PageInput['limit']): number {
  if (limit === undefined) return DEFAULT_PAGE;
  const n = typeof limit === 'number' ? limit : /^\d+$/.test(limit.trim()) ? Number(limit) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new InputError(`limit must be a whole number from 1 to ${MAX_PAGE}, not "${limit}"`, {
      code: 'invalid_limit',
      field: 'limit',
    });
  }
  return n;
}

/** A key part's kind: an instant (microsecond precision, as the store keeps it) or a text id. */
export type KeyPart = 'instant' | 'text';

/**
 * Selects an instant as the exact text a cursor carries: a JavaScript Date would drop the
 * microseconds the store keeps, and a key that is not exact skips or repeats rows.
 */
export const instantKey = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeCursor(tag: string, key: string[]): string {
  return Buffer.from(JSON.stringify([tag, ...key])).toString('base64url');
}

function malformed(why: string): InputError {
  return new InputError(`cursor is not valid for this list: ${why}`, {
    code: 'invalid_cursor',
    field: 'cursor',
  });
}

/** The key in `cursor`, checked against the list's tag and key shape; undefined for page one. */
export function decodeCursor(
  cursor: string | undefined,
  tag: string,
  shape: KeyPart[],
): string[] | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor))
    throw malformed('a cursor is a next_cursor value given by the previous page');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw malformed('a cursor is a next_cursor value given by the previous page');
  }
  if (!Array.isArray(parsed) || typeof parsed[0] !== 'string')
    throw malformed('a cursor is a next_cursor value given by the previous page');
  if (parsed[0] !== tag) throw malformed('it was given by a different list or ordering');
  if (parsed.length !== shape.length + 1)
    throw malformed('a cursor is a next_cursor value given by the previous page');
  const key = parsed.slice(1);
  shape.forEach((kind, i) => {
    const v = key[i];
    const ok =
      typeof v === 'string' &&
      (kind === 'instant'
        ? INSTANT.test(v) && !Number.isNaN(Date.parse(v))
        : v.length > 0 && v.length <= 500);
    if (!ok) throw malformed('a cursor is a next_cursor value given by the previous page');
  });
  return key as string[];
}

/**
 * One page from rows read with `LIMIT limit + 1`: the extra row only says there is more. The
 * cursor is the key of the last row returned, so the next page starts right after it.
 */
export function cutPage<R>(
  rows: R[],
  limit: number,
  tag: string,
  key: (row: R) => string[],
): { rows: R[]; next_cursor: string | null } {
  if (rows.length <= limit) return { rows, next_cursor: null };
  const page = rows.slice(0, limit);
  return { rows: page, next_cursor: encodeCursor(tag, key(page.at(-1)!)) };
}
