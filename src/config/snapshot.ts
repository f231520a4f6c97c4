import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { IDENTITY_KINDS, IDENTITY_STATUSES, type Identity } from '../core/model.js';
import type { LoadContext } from './context.js';
import { Refs } from './crossref.js';
import { NAMED_COLUMNS, loadIdentities } from './csv.js';
import { unstorable } from './unstorable.js';
import { ConfigError, Issues, sortIssues } from './issues.js';
import { newRegistry } from './names.js';

const NAMED = new Set<string>([...NAMED_COLUMNS, 'attributes']);

/** The first field (name or text value, nested objects included) the store could not hold. */
function unstorableField(
  o: Record<string, unknown>,
  path = '',
): { field: string; what: string } | undefined {
  for (const [k, v] of Object.entries(o)) {
    const field = path ? `${path}.${k}` : k;
    const what = unstorable(k) ?? (typeof v === 'string' ? unstorable(v) : undefined);
    if (what) return { field, what };
    if (typeof v === 'object' && v !== null) {
      const inner = unstorableField(v as Record<string, unknown>, field);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** A JSON snapshot: an array of identity objects (the CSV columns as fields, or an `attributes` object). */
function fromJson(file: string, text: string, issues: Issues): Identity[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? text.slice(0, Number(m[1])).split('\n').length : 1;
    issues.error({ file, line }, `not valid JSON: ${(e as Error).message}`);
    return [];
  }
  const list = Array.isArray(data) ? data : (data as { identities?: unknown })?.identities;
  if (!Array.isArray(list)) {
    issues.error({ file, line: 1 }, 'expected an array of identities (or { "identities": [...] })');
    return [];
  }
  const seen = new Map<string, number>();
  return list.flatMap((raw, index): Identity[] => {
    const where = { file, line: 0 };
    const label = `identities[${index}]`;
    const o = (raw ?? {}) as Record<string, unknown>;
    const bad = unstorableField(o);
    if (bad)
      return (issues.error(where, `${label}: ${JSON.stringify(bad.field)} holds ${bad.what}`), []);
    const s = (k: string) => (o[k] == null ? '' : String(o[k]));
    if (!s('id')) return (issues.error(where, `${label}: id is required`), []);
    if (!(IDENTITY_KINDS as readonly string[]).includes(s('kind')))
      return (
        issues.error(
          where,
          `${label} (${s('id')}): kind "${s('kind')}" is not one of ${IDENTITY_KINDS.join(', ')}`,
        ),
        []
      );
    if (!(IDENTITY_STATUSES as readonly string[]).includes(s('status')))
      return (
        issues.error(
          where,
          `${label} (${s('id')}): status "${s('status')}" is not one of ${IDENTITY_STATUSES.join(', ')}`,
        ),
        []
      );
    if (seen.has(s('id')))
      return (
        issues.error(
          where,
          `${label}: duplicate id ${s('id')} (also identities[${seen.get(s('id'))}])`,
        ),
        []
      );
    seen.set(s('id'), index);
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries((o.attributes as Record<string, unknown>) ?? {}))
      attributes[k] = v == null ? '' : String(v);
    for (const [k, v] of Object.entries(o))
      if (!NAMED.has(k)) attributes[k] = v == null ? '' : String(v);
    return [
      {
        id: s('id'),
        kind: s('kind') as Identity['kind'],
        status: s('status') as Identity['status'],
        displayName: s('display_name'),
        department: s('department'),
        title: s('title'),
        manager: s('manager'),
        owner: s('owner'),
        attributes,
      },
    ];
  });
}

/**
 * Reads an identity snapshot for `identities sync`: CSV with identities.csv's columns, or JSON.
 * Any bad row rejects the whole snapshot, naming its line, so a feed is never half-applied.
 */
export async function loadSnapshot(path: string): Promise<Identity[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ConfigError([{ file: path, line: 0, message: 'cannot read the snapshot file' }]);
  }
  const issues = new Issues();
  const name = basename(path);
  let identities: Identity[];
  if (path.endsWith('.json')) identities = fromJson(name, text, issues);
  else {
    const ctx: LoadContext = { issues, reg: newRegistry(), refs: new Refs() };
    identities = loadIdentities({ rel: name, text }, ctx);
  }
  if (issues.errors.length > 0) throw new ConfigError(sortIssues(issues.errors));
  return identities;
}
