import type { FastifyRequest } from 'fastify';
import { isSecretKey } from '../core/secrets.js';

/** Where the request log goes (a pino destination: anything with write), and from which level. */
export interface LogOptions {
  stream: { write(line: string): void };
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export const REDACTED = '[redacted]';

/** Headers that carry credentials, wherever a log line holds headers. */
const SECRET_HEADERS = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-hub-signature',
  'x-hub-signature-256',
  'x-gatehouse-signature',
  'x-csrf-token',
  'proxy-authorization',
];
/** Fields that hold a secret, at the top of a log object or two levels down (with isSecretKey). */
const SECRET_FIELDS = [
  'token',
  'secret',
  'password',
  'client_secret',
  'access_token',
  'id_token',
  'refresh_token',
  'code_verifier',
  'session',
];

const SECRET_HEADER_NAMES = new Set(SECRET_HEADERS);
const SECRET_FIELD_NAMES = new Set(SECRET_FIELDS);
/** Keys judged so far; log objects use few keys, but an unbounded map would be a leak. */
const judged = new Map<string, boolean>();

function secretField(key: string): boolean {
  let secret = judged.get(key);
  if (secret === undefined) {
    secret = SECRET_FIELD_NAMES.has(key) || isSecretKey(key);
    if (judged.size < 1000) judged.set(key, secret);
  }
  return secret;
}

/** Plain data (an object literal, parsed JSON, an array), not an instance a serializer owns. */
function plain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null || Array.isArray(v);
}

/**
 * `value` with each secret-named field and, inside a `headers` object, each credential header
 * replaced, down to `depth` levels below; copied where it changes, the caller's object left alone.
 */
function scrub<T>(value: T, depth: number, headers: boolean): T {
  if (value instanceof Error) return scrubError(value) as T;
  if (!plain(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = value[key];
    let next = v;
    if (secretField(key) || (headers && SECRET_HEADER_NAMES.has(key.toLowerCase())))
      next = REDACTED;
    else if (depth > 0) next = scrub(v, depth - 1, key.toLowerCase() === 'headers');
    if (next !== v) {
      out ??= Array.isArray(value)
        ? ([...(value as unknown[])] as unknown as Record<string, unknown>)
        : { ...value };
      out[key] = next;
    }
  }
  return (out ?? value) as T;
}

/**
 * pino's error serializer logs an error's own fields as they are: a copy (still an Error, for the
 * serializer) with the secret-named ones replaced.
 */
function scrubError(e: Error): Error {
  const secret = Object.keys(e).filter(secretField);
  if (secret.length === 0) return e;
  const copy = Object.create(
    Object.getPrototypeOf(e) as object,
    Object.getOwnPropertyDescriptors(e),
  ) as Record<string, unknown>;
  for (const key of secret) copy[key] = REDACTED;
  return copy as unknown as Error;
}

/**
 * A log object with credentials redacted: secret-named fields (`token`, `client_secret`, any name
 * `isSecretKey` judges secret) at its top and two levels down, and credential headers in a
 * `headers` object at its top or one level down, and an error's own secret-named fields. Other
 * instances (a Fastify request or reply) are left to their serializers, which log only named
 * fields (`req` below) and never headers. pino's own
 * `redact` did this by paths, parsing every path again for each key of each line: most of the
 * request log's CPU (ADR 0059).
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  return scrub(obj, 2, false);
}

/** OAuth and OIDC put one-time secrets in the query string (`?code=…&state=…`). */
const SECRET_QUERY = new Set(['code', 'state', 'session_state', ...SECRET_FIELDS]);

/** The path with the value of each secret-carrying query parameter replaced. */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      let name = key;
      try {
        name = decodeURIComponent(key);
      } catch {
        // an undecodable name is logged as it came, and judged as it came
      }
      return eq >= 0 && (SECRET_QUERY.has(name.toLowerCase()) || isSecretKey(name))
        ? `${key}=${REDACTED}`
        : pair;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

/**
 * Fastify's logger options: JSON lines through pino, each request's lines carrying its
 * `request_id` (the id every error answer quotes), the URL with secret query values replaced,
 * and every credential header or secret-named field redacted (`redactSecrets`), whoever logs it.
 */
export function loggerOptions(log: LogOptions) {
  return {
    level: log.level ?? 'info',
    stream: log.stream,
    formatters: { log: redactSecrets },
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: loggableUrl(req.url),
        route: req.routeOptions?.url,
        address: req.ip,
        user_agent: req.headers?.['user-agent'],
      }),
    },
  };
}
