import { InputError } from '../errors.js';
import { IDENTITY_KINDS, RISK_TIERS, type IdentityKind, type RiskTier } from '../model.js';

/** A campaign's scope (CLI.md): every term must hold for a grant to be reviewed. */
export interface ReviewScope {
  app?: string;
  entitlement?: string;
  /** This tier and above. */
  risk?: RiskTier;
  kind?: IdentityKind;
  privileged?: boolean;
  emergency?: boolean;
}

const KEYS = ['app', 'entitlement', 'risk', 'kind', 'privileged', 'emergency', 'unused_days'];

function bad(message: string, code = 'invalid_scope'): InputError {
  return new InputError(`scope: ${message}`, { code, field: 'scope' });
}

function flag(key: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw bad(`${key} is true or false, not "${value}"`);
}

/**
 * Parses `key=value,key=value` against the catalog, so an unknown app or entitlement is named
 * now rather than selecting nothing. `unused_days` is part of the grammar, but no connector
 * reports last use yet: it is refused rather than read as "every grant".
 */
export function parseScope(
  text: string,
  catalog: { apps: { has(id: string): boolean }; entitlements: { has(id: string): boolean } },
): ReviewScope {
  const scope: ReviewScope = {};
  const seen = new Set<string>();
  const terms = text.split(',').map((t) => t.trim());
  if (terms.every((t) => t === ''))
    throw bad('name at least one term, such as app=erp or privileged=true');
  for (const term of terms) {
    const eq = term.indexOf('=');
    const key = eq < 0 ? term : term.slice(0, eq).trim();
    const value = eq < 0 ? '' : term.slice(eq + 1).trim();
    if (!KEYS.includes(key)) throw bad(`"${key}" is not a scope term (one of ${KEYS.join(', ')})`);
    if (value === '') throw bad(`${key} needs a value (${key}=…)`);
    if (seen.has(key)) throw bad(`${key} is given twice`);
    seen.add(key);
    switch (key) {
      case 'app':
        if (!catalog.apps.has(value)) throw bad(`app "${value}" is not configured`);
        scope.app = value;
        break;
      case 'entitlement':
        if (!catalog.entitlements.has(value)) throw bad(`entitlement "${value}" is not configured`);
        scope.entitlement = value;
        break;
      case 'risk':
        if (!(RISK_TIERS as readonly string[]).includes(value))
          throw bad(`risk is one of ${RISK_TIERS.join(', ')}, not "${value}"`);
        scope.risk = value as RiskTier;
        break;
      case 'kind':
        if (!(IDENTITY_KINDS as readonly string[]).includes(value))
          throw bad(`kind is one of ${IDENTITY_KINDS.join(', ')}, not "${value}"`);
        scope.kind = value as IdentityKind;
        break;
      case 'privileged':
        scope.privileged = flag(key, value);
        break;
      case 'emergency':
        scope.emergency = flag(key, value);
        break;
      case 'unused_days':
        throw bad(
          'unused_days needs when each grant was last used, which no configured connector reports yet',
          'scope_unsupported',
        );
    }
  }
  return scope;
}

/**
 * The scope as SQL over `grants g JOIN entitlements e`: active grants matching every term. The
 * risk tier is the entitlement's own (an entitlement without one takes its app's at apply).
 */
export function scopeWhere(scope: ReviewScope, p: (v: unknown) => string): string {
  const where = [`g.state = 'active'`];
  if (scope.app !== undefined) where.push(`g.app = ${p(scope.app)}`);
  if (scope.entitlement !== undefined) where.push(`g.entitlement = ${p(scope.entitlement)}`);
  if (scope.risk !== undefined)
    where.push(`e.risk = ANY(${p(RISK_TIERS.slice(RISK_TIERS.indexOf(scope.risk)))}::text[])`);
  if (scope.kind !== undefined) where.push(`i.kind = ${p(scope.kind)}`);
  if (scope.privileged !== undefined) where.push(`e.privileged = ${p(scope.privileged)}`);
  if (scope.emergency !== undefined) where.push(`g.emergency = ${p(scope.emergency)}`);
  return where.join(' AND ');
}
