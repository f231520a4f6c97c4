import { at, type Issues, type Place } from './issues.js';
import type { Path, YamlSource } from './yaml-source.js';
import { formatPath } from './zod-issues.js';

/** The names one kind of definition introduces (groups, connectors, entitlements…), with where. */
export class Names {
  readonly defined = new Map<string, Place>();
  /** Whether a defining file was present at all. */
  present = false;
  /** False when a defining file could not be read: "unknown name" would then be noise. */
  complete = true;

  constructor(
    readonly what: string,
    /** Where definitions live, for messages: "groups.yaml", "apps/*.yaml". */
    readonly home: string,
  ) {}

  define(name: string, place: Place, label: string, issues: Issues): void {
    const first = this.defined.get(name);
    if (first)
      issues.error(place, `${label}: ${this.what} "${name}" is already defined at ${at(first)}`);
    else this.defined.set(name, place);
  }

  has(name: string): boolean {
    return this.defined.has(name);
  }

  /** ` in groups.yaml` or ` (there is no groups.yaml)`, so the message names the other file. */
  where(): string {
    return this.present ? `in ${this.home}` : `(there is no ${this.home})`;
  }
}

export interface Registry {
  identities: Names;
  groups: Names;
  connectors: Names;
  apps: Names;
  entitlements: Names;
  policies: Names;
}

export function newRegistry(): Registry {
  return {
    identities: new Names('identity', 'identities.csv'),
    groups: new Names('group', 'groups.yaml'),
    connectors: new Names('connector', 'connectors.yaml'),
    apps: new Names('app', 'apps/*.yaml'),
    entitlements: new Names('entitlement', 'apps/*.yaml'),
    policies: new Names('policy id', 'policies/*.cedar'),
  };
}

function valueAt(value: unknown, path: Path): unknown {
  let at = value;
  for (const k of path) {
    at =
      typeof at === 'object' && at !== null
        ? (at as Record<string | number, unknown>)[k]
        : undefined;
  }
  return at;
}

/**
 * Defines the names introduced at `path` (a string, or with `key` a list of maps holding one),
 * read from the raw value rather than the validated one: an invalid field elsewhere in the file
 * must not make every reference to these names look unknown.
 */
export function defineFromYaml(
  names: Names,
  src: YamlSource,
  path: Path,
  key: string | undefined,
  issues: Issues,
): void {
  names.present = true;
  if (!src.ok) {
    names.complete = false;
    return;
  }
  const define = (p: Path) => {
    const name = valueAt(src.value, p);
    if (typeof name === 'string' && name !== '')
      names.define(name, src.place(p), formatPath(p), issues);
  };
  if (key === undefined) return define(path);
  const list = valueAt(src.value, path);
  if (Array.isArray(list)) list.forEach((_, i) => define([...path, i, key]));
  // Something other than a list (validation reports it): its names are unknown, so are not checked.
  else if (list !== undefined && list !== null) names.complete = false;
}
