import { InputError } from '../errors.js';

/** What a token may be used for (API.md); the store's CHECK constraint holds the same list. */
export const SCOPES = [
  'read',
  'request',
  'approve',
  'review',
  'admin',
  'audit',
  'itsm',
  'metrics',
] as const;
export type Scope = (typeof SCOPES)[number];

export const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

/** `read,approve` or a list: each a known scope, at least one, none twice. */
export function parseScopes(value: string | readonly string[]): Scope[] {
  const parts = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim());
  if (parts.length === 0 || parts.every((s) => s === ''))
    throw new InputError(`scopes: name at least one of ${SCOPES.join(', ')}`, {
      code: 'invalid_scopes',
      field: 'scopes',
    });
  const scopes: Scope[] = [];
  for (const s of parts) {
    if (!isScope(s))
      throw new InputError(`scopes: "${s}" is not a scope (one of ${SCOPES.join(', ')})`, {
        code: 'invalid_scopes',
        field: 'scopes',
      });
    if (!scopes.includes(s)) scopes.push(s);
  }
  return scopes;
}
