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
/** Fields that hold a secret, at the top of a log object or one level down. */
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

/** pino redact paths: credentials in headers, and secret-named fields. */
export const REDACT_PATHS = [
  ...SECRET_HEADERS.flatMap((h) => [
    `req.headers["${h}"]`,
    `res.headers["${h}"]`,
    `headers["${h}"]`,
    `*.headers["${h}"]`,
  ]),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
];

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
 * and every credential header or secret-named field redacted, whoever logs it.
 */
export function loggerOptions(log: LogOptions) {
  return {
    level: log.level ?? 'info',
    stream: log.stream,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
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
