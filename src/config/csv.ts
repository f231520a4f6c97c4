import { parse } from 'csv-parse/sync';
import {
  IDENTITY_KINDS,
  IDENTITY_STATUSES,
  type Identity,
  type IdentityKind,
  type IdentityStatus,
} from '../core/model.js';
import type { LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { unstorable } from './unstorable.js';

export const NAMED_COLUMNS = [
  'id',
  'kind',
  'status',
  'display_name',
  'department',
  'title',
  'manager',
  'owner',
] as const;
const REQUIRED = ['id', 'kind', 'status'];

interface Row {
  cells: string[];
  line: number;
}

/**
 * Records with the line each starts on. Parsed as arrays, not `columns: true`, so that a row with
 * the wrong number of fields is reported with its line instead of ending the parse.
 */
function rows(file: ConfigFile, ctx: LoadContext): Row[] | undefined {
  type Parsed = { record: string[]; info: { lines: number; empty_lines: number } };
  let parsed: Parsed[];
  try {
    // With `info`, csv-parse returns { record, info } objects; its typings do not say so.
    parsed = parse(file.text, {
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      bom: true,
      trim: true,
    }) as unknown as Parsed[];
  } catch (e) {
    const err = e as { lines?: number; message: string };
    ctx.issues.error({ file: file.rel, line: err.lines ?? 1 }, err.message);
    return undefined;
  }
  // info.lines is where a record ends (a quoted cell may span lines); the start follows the previous end.
  let end = 0;
  let empty = 0;
  return parsed.map(({ record, info }) => {
    const line = end + 1 + (info.empty_lines - empty);
    end = info.lines;
    empty = info.empty_lines;
    return { cells: record, line };
  });
}

function member<T extends string>(list: readonly T[], v: string): v is T {
  return (list as readonly string[]).includes(v);
}

/** identities.csv: one identity per row; columns beyond the named ones are free-form attributes. */
export function loadIdentities(file: ConfigFile | undefined, ctx: LoadContext): Identity[] {
  const names = ctx.reg.identities;
  if (!file) return [];
  names.present = true;
  const all = rows(file, ctx);
  if (!all) {
    names.complete = false;
    return [];
  }
  const [head, ...body] = all;
  if (!head) return [];
  const header = head.cells;
  const at = (line: number) => ({ file: file.rel, line });
  const missing = REQUIRED.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    ctx.issues.error(
      at(head.line),
      `header: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
    );
    names.complete = false;
    return [];
  }
  const repeated = header.filter((c, i) => header.indexOf(c) !== i);
  if (repeated.length > 0)
    ctx.issues.error(at(head.line), `header: column ${repeated[0]} appears twice`);

  const out: Identity[] = [];
  for (const row of all) {
    const bad = row.cells.map((c, i) => [unstorable(c), i] as const).find(([what]) => what);
    if (bad) {
      const column = row === head ? 'header' : (header[bad[1]] ?? `column ${bad[1] + 1}`);
      ctx.issues.error(at(row.line), `${column}: holds ${bad[0]}`);
      names.complete = false;
      row.cells = [];
    }
  }
  for (const row of body) {
    if (row.cells.length === 0) continue;
    if (row.cells.length !== header.length) {
      ctx.issues.error(
        at(row.line),
        `row has ${row.cells.length} fields, the header has ${header.length}`,
      );
      names.complete = false;
      continue;
    }
    const cell = (c: string) => row.cells[header.indexOf(c)] ?? '';
    // Defined even when the row is otherwise invalid, so references to it do not add noise.
    if (cell('id')) names.define(cell('id'), at(row.line), 'id', ctx.issues);
    const identity = toIdentity(cell, header, row.line, file, ctx);
    if (identity) out.push(identity);
  }
  return out;
}

function toIdentity(
  cell: (column: string) => string,
  header: string[],
  line: number,
  file: ConfigFile,
  ctx: LoadContext,
): Identity | undefined {
  const place = { file: file.rel, line };
  const id = cell('id');
  const kind = cell('kind');
  const status = cell('status');
  let ok = true;
  if (!id) {
    ctx.issues.error(place, 'id: must not be empty');
    ok = false;
  }
  if (!member<IdentityKind>(IDENTITY_KINDS, kind)) {
    ctx.issues.error(place, `kind: "${kind}" is not one of ${IDENTITY_KINDS.join(', ')}`);
    ok = false;
  }
  if (!member<IdentityStatus>(IDENTITY_STATUSES, status)) {
    ctx.issues.error(place, `status: "${status}" is not one of ${IDENTITY_STATUSES.join(', ')}`);
    ok = false;
  }
  if (!ok) return undefined;
  const attributes: Record<string, string> = {};
  for (const c of header) if (!member(NAMED_COLUMNS, c)) attributes[c] = cell(c);
  const identity: Identity = {
    id,
    kind: kind as IdentityKind,
    status: status as IdentityStatus,
    displayName: cell('display_name'),
    department: cell('department'),
    title: cell('title'),
    manager: cell('manager'),
    owner: cell('owner'),
    attributes,
  };
  for (const column of ['manager', 'owner'] as const) {
    if (identity[column])
      ctx.refs.identities.push({ name: identity[column], place, label: column });
  }
  if (identity.kind !== 'human' && !identity.owner) {
    ctx.issues.warn(
      place,
      `${identity.id}: a ${identity.kind} needs an owner (an accountable human)`,
    );
  }
  return identity;
}
