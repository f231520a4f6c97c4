import type { Issues } from './issues.js';
import type { Path, YamlSource } from './yaml-source.js';
import { formatPath } from './zod-issues.js';

const SECRET_KEYS = new Set(['password', 'bind_password', 'token', 'secret', 'api_key']);
const REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
/** scheme://user:PASSWORD@host */
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^/@\s]+)@/i;

function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key) || /_(password|token|secret)$/.test(key);
}

/**
 * Configuration lives in version control, so a secret must be a ${VAR} reference resolved by the
 * connector at run time. Messages never repeat the literal, which may be a real credential.
 */
export function checkSecrets(value: unknown, src: YamlSource, path: Path, issues: Issues): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkSecrets(v, src, [...path, i], issues));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = [...path, k];
      if (isSecretKey(k) && !(typeof v === 'string' && REFERENCE.test(v))) {
        issues.error(
          src.place(p),
          `${formatPath(p)}: secrets must be a reference such as \${ENV_VAR}, never a literal value`,
        );
      } else {
        checkSecrets(v, src, p, issues);
      }
    }
    return;
  }
  const password = typeof value === 'string' ? URL_PASSWORD.exec(value)?.[1] : undefined;
  if (password !== undefined && !REFERENCE.test(password)) {
    issues.error(
      src.place(path),
      `${formatPath(path)}: the URL holds a literal password; use a reference such as \${ENV_VAR}`,
    );
  }
}
