import { InputError } from '../core/errors.js';

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * A connector setting with every ${VAR} replaced from `env`. Secrets live only in the
 * environment, so errors name the setting and the variable, never a value.
 */
export function resolveSetting(
  connector: string,
  key: string,
  value: unknown,
  env: Record<string, string | undefined>,
): string {
  if (value === undefined || value === null || value === '') {
    throw new InputError(`connector ${connector}: ${key} is required`);
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new InputError(`connector ${connector}: ${key} must be a string`);
  }
  return String(value).replace(REF, (_ref, name: string) => {
    const resolved = env[name];
    if (resolved === undefined) {
      throw new InputError(
        `connector ${connector}: ${key} refers to \${${name}}, which is not set`,
      );
    }
    return resolved;
  });
}
