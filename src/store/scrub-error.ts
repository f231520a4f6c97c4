import { scrubSecrets } from '../core/secrets.js';

/**
 * The store's error with its message (and PostgreSQL's detail) scrubbed: an error may quote a
 * connection string or a value, and store errors reach grants' failure fields, audit details and
 * stderr. The object is kept, so its SQLSTATE `code` still reaches whoever inspects it.
 */
export function scrubbedError(e: unknown, known: readonly string[] = []): unknown {
  if (!(e instanceof Error)) return e;
  e.message = scrubSecrets(e.message, known);
  const withDetail = e as Error & { detail?: unknown };
  if (typeof withDetail.detail === 'string')
    withDetail.detail = scrubSecrets(withDetail.detail, known);
  if (e.stack) e.stack = scrubSecrets(e.stack, known);
  return e;
}
