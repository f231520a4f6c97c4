import type { z } from 'zod';
import type { Issues } from './issues.js';
import { didYouMean } from './suggest.js';
import type { Path, YamlSource } from './yaml-source.js';

/** `entitlements[2].max_duration`, as a reader would point into the file. */
export function formatPath(path: Path): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

export function withPath(path: Path, message: string): string {
  const p = formatPath(path);
  return p ? `${p}: ${message}` : message;
}

const EXPECTED: Record<string, string> = {
  object: 'a map',
  array: 'a list',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function shown(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return JSON.stringify(v);
}

/**
 * Default wording for zod's own issues, in the vocabulary of a YAML author. Passed per parse so
 * messages written on a schema still win and nothing global changes for other zod users.
 */
export function yamlWording(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      const expected = EXPECTED[iss.expected] ?? iss.expected;
      return iss.input === undefined
        ? 'is required'
        : `expected ${expected}, got ${shown(iss.input)}`;
    }
    case 'invalid_value':
      if (iss.input === undefined)
        return `is required (one of ${iss.values.map(String).join(', ')})`;
      return `${shown(iss.input)} is not one of ${iss.values.map(String).join(', ')}`;
    case 'too_small':
      if (iss.origin === 'array')
        return `needs at least ${iss.minimum} entr${iss.minimum === 1 ? 'y' : 'ies'}`;
      if (iss.origin === 'string') return 'must not be empty';
      return `must be at least ${iss.minimum}`;
    default:
      return undefined;
  }
}

/** Reports each issue at its line; `prefix` is where the validated value sits in the file. */
export function reportZod(
  src: YamlSource,
  error: z.ZodError,
  issues: Issues,
  prefix: Path = [],
  suffix = '',
): void {
  for (const i of error.issues) {
    const path = [...prefix, ...i.path.filter((k): k is string | number => typeof k !== 'symbol')];
    const params =
      i.code === 'custom' ? (i.params as { unknownField?: boolean; known?: string[] }) : {};
    if (params?.unknownField) {
      const key = String(path[path.length - 1]);
      const hint = didYouMean(key, params.known ?? []);
      issues.error(
        src.place(path),
        withPath(path.slice(0, -1), `unknown field "${key}"${hint}${suffix}`),
      );
    } else {
      issues.error(src.place(path), withPath(path, `${i.message}${suffix}`));
    }
  }
}

/** Validates a source's value; reports every issue with its line and returns undefined on failure. */
export function validate<T extends z.ZodType>(
  src: YamlSource,
  schema: T,
  issues: Issues,
  ifEmpty: unknown,
): z.output<T> | undefined {
  if (!src.ok) return undefined;
  const r = schema.safeParse(src.value ?? ifEmpty, { error: yamlWording });
  if (r.success) return r.data;
  reportZod(src, r.error, issues);
  return undefined;
}

/** Validates one value inside a file (a connector's settings, an entitlement's target) at `path`. */
export function validateAt<T extends z.ZodType>(
  src: YamlSource,
  path: Path,
  schema: T,
  value: unknown,
  issues: Issues,
  suffix = '',
): z.output<T> | undefined {
  const r = schema.safeParse(value, { error: yamlWording });
  if (r.success) return r.data;
  reportZod(src, r.error, issues, path, suffix);
  return undefined;
}
