import { isSecretKey } from '../core/secrets.js';
import type { Issues } from './issues.js';
import type { Path, YamlSource } from './yaml-source.js';
import { formatPath } from './zod-issues.js';

const REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
/** scheme://user:PASSWORD@host */
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^/@\s]+)@/i;
/** name=value in a URL query (`?password=…`) or a libpq string (`host=h password=…`). */
const PARAM = /(?:^|[?&;\s])([A-Za-z0-9_.-]+)=([^&;\s]*)/g;

function literal(value: unknown): boolean {
  return !(typeof value === 'string' && REFERENCE.test(value));
}

/** The first secret written literally inside a text value, named for the message. */
function literalInText(text: string): string | undefined {
  const password = URL_PASSWORD.exec(text)?.[1];
  if (password !== undefined && literal(password)) return 'the URL holds a literal password';
  for (const m of text.matchAll(PARAM)) {
    const [, key, value] = m;
    if (isSecretKey(key!) && value !== '' && literal(value))
      return `the parameter ${key} holds a literal secret`;
  }
  return undefined;
}

/**
 * Configuration lives in version control, so a secret must be a ${VAR} reference resolved by the
 * connector at run time: a secret-named setting (every value beneath it, if it is a map), a URL's
 * password, a secret-named URL or connection-string parameter. Messages never repeat the literal,
 * which may be a real credential.
 */
export function checkSecrets(
  value: unknown,
  src: YamlSource,
  path: Path,
  issues: Issues,
  underSecret = false,
): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkSecrets(v, src, [...path, i], issues, underSecret));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      checkSecrets(v, src, [...path, k], issues, underSecret || isSecretKey(k));
    }
    return;
  }
  if (underSecret && value !== null && value !== '' && literal(value)) {
    issues.error(
      src.place(path),
      `${formatPath(path)}: secrets must be a reference such as \${ENV_VAR}, never a literal value`,
    );
    return;
  }
  const found = typeof value === 'string' ? literalInText(value) : undefined;
  if (found) {
    issues.error(
      src.place(path),
      `${formatPath(path)}: ${found}; use a reference such as \${ENV_VAR}`,
    );
  }
}
