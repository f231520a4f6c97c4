/**
 * What counts as a secret, in one place: the configuration's literal-secret check, connectors and
 * every edge that prints or stores a message (stderr, a grant's failure, audit details) use it.
 */

/** Secret names, compared without case, `_`, `-` or `.`: `api_key`, `apiKey`, `API-KEY` are one. */
const SECRET_WORDS = [
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'secrets',
  'token',
  'apikey',
  'privatekey',
  'secretkey',
  'accesskey',
  'signingkey',
  'clientsecret',
  'credential',
  'credentials',
];

function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * Whether a setting or parameter of this name holds a secret: its last word, or its last two
 * words run together, is a secret word (`bind_password`, `github_token`, `private_key`,
 * `sslpassword`), so `token_url` or `password_policy` are not.
 */
export function isSecretKey(key: string): boolean {
  const w = words(key);
  const last = w[w.length - 1] ?? '';
  const lastTwo = w.slice(-2).join('');
  return (
    SECRET_WORDS.includes(last) ||
    SECRET_WORDS.includes(lastTwo) ||
    // Run-together names (`sslpassword`, `dbpassword`) still end in the word.
    /(password|passwd|passphrase|secret|token|apikey|privatekey)$/.test(last)
  );
}

/** scheme://user:PASSWORD@host — the password group. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:)([^\s/@]+)@/gi;
/** name=value (URL query, libpq conninfo) or "name": "value" (JSON) pairs. */
const PAIR = /([A-Za-z0-9_.-]+)(=|"\s*:\s*")([^\s&;,"']+)/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/-]+=*/g;

/**
 * The secret values written into a setting such as a connection URL: the userinfo password and
 * every secret-named query parameter, raw and decoded. A connector scrubs these from driver
 * messages, which may repeat them in any form.
 */
export function secretsIn(value: string): string[] {
  const found: string[] = [];
  for (const m of value.matchAll(URL_USERINFO)) found.push(m[2]!);
  for (const m of value.matchAll(PAIR)) if (isSecretKey(m[1]!)) found.push(m[3]!);
  const decoded = found.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return [...new Set([...found, ...decoded])].filter((s) => s.length > 0);
}

/**
 * A message fit to print or store: URL passwords, secret-named parameters (`password=`,
 * `?api_key=`, `"token": "…"`), bearer and basic credentials, and any `known` secret value are
 * replaced by `***`. Applied to driver and store errors, which may quote a connection string.
 */
export function scrubSecrets(message: string, known: readonly string[] = []): string {
  let out = message;
  // Longest first, so a value that contains another is replaced whole.
  for (const s of [...known].filter((k) => k.length >= 3).sort((a, b) => b.length - a.length))
    out = out.split(s).join('***');
  return out
    .replace(URL_USERINFO, '$1***@')
    .replace(PAIR, (all, key: string, sep: string) => (isSecretKey(key) ? `${key}${sep}***` : all))
    .replace(BEARER, '$1 ***');
}

/**
 * Gatehouse's own credentials: its store URL, API token, session and signing secrets, checkpoint
 * key. A connector setting names a host the configuration chooses, so a reference to one of these
 * would send it there; no configuration may read them, whatever its allow-list says.
 */
export function isOwnCredential(name: string): boolean {
  return name === 'DATABASE_URL' || name.toUpperCase().startsWith('GATEHOUSE_');
}

/** `PG_TARGET_*` style patterns: `*` stands for any run of characters, nothing else is special. */
export function allowedBy(name: string, allow: readonly string[]): boolean {
  return allow.some((pattern) =>
    new RegExp(
      `^${pattern
        .split('*')
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(name),
  );
}

/**
 * Why `${name}` may not be read, or undefined if it may. `allow` is gatehouse.yaml's
 * `secrets.env_allow`; absent, every variable but Gatehouse's own credentials may be read.
 */
export function refusedReference(name: string, allow?: readonly string[]): string | undefined {
  if (isOwnCredential(name))
    return `\${${name}} is one of Gatehouse's own credentials (DATABASE_URL, GATEHOUSE_*), which connector settings may never read`;
  if (allow && !allowedBy(name, allow))
    return `\${${name}} is not in secrets.env_allow of gatehouse.yaml`;
  return undefined;
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Every ${VAR} name a text refers to. */
export function referencesIn(text: string): string[] {
  return [...text.matchAll(REFERENCE)].map((m) => m[1]!);
}
