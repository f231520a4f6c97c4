import { InputError } from '../core/errors.js';
import { refusedReference } from '../core/secrets.js';

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
  allow?: readonly string[],
): string {
  if (value === undefined || value === null || value === '') {
    throw new InputError(`connector ${connector}: ${key} is required`, {
      code: 'setting_required',
      field: key,
    });
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new InputError(`connector ${connector}: ${key} must be a string`, {
      code: 'invalid_setting',
      field: key,
    });
  }
  return String(value).replace(REF, (_ref, name: string) => {
    const refused = refusedReference(name, allow);
    if (refused)
      throw new InputError(`connector ${connector}: ${key} refers to ${refused}`, {
        code: 'reference_refused',
        field: key,
      });
    const resolved = env[name];
    if (resolved === undefined) {
      throw new InputError(
        `connector ${connector}: ${key} refers to \${${name}}, which is not set`,
        { code: 'reference_unset', field: key },
      );
    }
    return resolved;
  });
}
