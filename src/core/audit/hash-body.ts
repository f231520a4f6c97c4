/**
 * The bytes an event's hash covers, rebuilt for verification of events written before
 * migration 028, which have no stored body (ADR 0029; later events: ADR 0040). eventHash
 * (chain.ts) hashes `prev_hash "\n" canonical({seq, at, actor, action, subject, details,
 * refs})`; verify reads the same bytes in three parts instead of a row to rebuild them from:
 *
 * - before: `{"action":…,"actor":…,"at":"…","details":` rendered by PostgreSQL,
 * - details: parsed by the driver and serialised here by canonicalJson,
 * - after: `,"refs":[…],"seq":…,"subject":…}` rendered by PostgreSQL.
 *
 * canonical() sorts keys, so the fixed fields come in that order. PostgreSQL escapes a string
 * as JSON.stringify does (`\"`, `\\`, `\b\f\n\r\t`, other control characters as lower-case
 * `\u00xx`, the rest as is); `at` is printed as toISOString() prints it. Where a rendering could
 * still differ (a timestamp outside years 1–9999, say), the hash does not match and verify
 * judges the event by the row and eventHash itself, so a difference can never make an intact
 * event look altered.
 */
export const BODY_BEFORE_DETAILS = `'{"action":' || to_json(action) || ',"actor":' || to_json(actor)
  || ',"at":"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '","details":'`;

export const BODY_AFTER_DETAILS = `',"refs":' || array_to_json(refs) || ',"seq":' || seq
  || ',"subject":' || to_json(subject) || '}'`;

/**
 * canonical() for values that come from JSON.parse (no undefined, no holes, no toJSON): the same
 * text, built by appending instead of through entries, sort callbacks and joins.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, as canonical()'s comparator does.
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}
