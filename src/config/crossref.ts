import type { Issues, Place } from './issues.js';
import type { Registry } from './names.js';
import { didYouMean } from './suggest.js';

/** A use of a name defined elsewhere; `label` is the path it was written at, for the message. */
export interface Ref {
  name: string;
  place: Place;
  label: string;
}

/**
 * Uses of names, collected while each file is read and resolved once every file has been read,
 * so a reference to a later file (sod.yaml naming apps/*.yaml) needs no load order.
 */
export class Refs {
  readonly rules: Ref[] = [];
  readonly identities: Ref[] = [];
  readonly entitlements: Ref[] = [];
  readonly connectors: Ref[] = [];
  fallbackGroup: (Ref & { explicit: boolean }) | undefined;
}

function resolveGroup(ref: Ref, group: string, reg: Registry, issues: Issues): void {
  if (reg.groups.complete && !reg.groups.has(group)) {
    const hint = didYouMean(group, reg.groups.defined.keys());
    issues.error(
      ref.place,
      `${ref.label}: group "${group}" is not defined ${reg.groups.where()}${hint}`,
    );
  }
}

/** Identities normally arrive by HR sync, so a name missing from the seed file is only a warning. */
function resolveIdentity(ref: Ref, id: string, reg: Registry, issues: Issues): void {
  if (reg.identities.present && reg.identities.complete && !reg.identities.has(id)) {
    issues.warn(ref.place, `${ref.label}: identity "${id}" is not in identities.csv`);
  }
}

function resolveFallback(ref: Refs['fallbackGroup'], reg: Registry, issues: Issues): void {
  if (!ref || !reg.groups.complete || reg.groups.has(ref.name)) return;
  if (ref.explicit) {
    const message = `${ref.label}: group "${ref.name}" is not defined ${reg.groups.where()}`;
    if (reg.groups.present) issues.error(ref.place, message);
    else issues.warn(ref.place, message);
    return;
  }
  const message = `the approval fallback group "${ref.name}" (the default; set approval.fallback_group in gatehouse.yaml) is not defined ${reg.groups.where()}`;
  if (reg.groups.present) issues.error({ file: 'groups.yaml', line: 1 }, message);
  else issues.warn({ file: 'gatehouse.yaml', line: 0 }, message);
}

export function resolveRefs(refs: Refs, reg: Registry, issues: Issues): void {
  for (const r of refs.rules) {
    if (r.name.startsWith('group:')) resolveGroup(r, r.name.slice('group:'.length), reg, issues);
    if (r.name.startsWith('identity:'))
      resolveIdentity(r, r.name.slice('identity:'.length), reg, issues);
  }
  for (const r of refs.identities) resolveIdentity(r, r.name, reg, issues);
  resolveFallback(refs.fallbackGroup, reg, issues);
  if (reg.entitlements.complete) {
    for (const r of refs.entitlements) {
      if (reg.entitlements.has(r.name)) continue;
      const hint = didYouMean(r.name, reg.entitlements.defined.keys());
      issues.error(
        r.place,
        `${r.label}: unknown entitlement "${r.name}" (not defined in apps/*.yaml)${hint}`,
      );
    }
  }
  if (reg.connectors.complete) {
    for (const r of refs.connectors) {
      if (!reg.connectors.has(r.name)) {
        const hint = didYouMean(r.name, reg.connectors.defined.keys());
        issues.error(
          r.place,
          `${r.label}: connector "${r.name}" is not defined ${reg.connectors.where()}${hint}`,
        );
      }
    }
  }
}
