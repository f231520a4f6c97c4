import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { timeoutSettings } from './module.js';
import { duration, fields } from './schema.js';

export const text = z.string().min(1);

/** A SCIM base URL: scheme, host, optional port and path, no query or fragment. */
export const SCIM_URL = /^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/i;

/** The settings of a `scim` entry in connectors.yaml (docs/connectors/scim.md). */
export const settingsSchema = fields({
  /** The service provider's base URL, under which /Users and /Groups live. */
  url: text.refine(
    (v) => v.includes('${') || SCIM_URL.test(v),
    'must be an https:// URL (the SCIM base, e.g. https://scim.example.com/v2), or a ${VAR} reference to one',
  ),
  /** The bearer token: a ${VAR} reference (validate refuses a literal, src/config/secrets.ts). */
  token: text,
  /**
   * The longest `Retry-After` of a 429 or 503 the connector waits out within one call before
   * trying again; a longer one fails the call, retryable after that many seconds.
   */
  max_retry_wait: duration.refine((s) => s <= 60, 'must be at most 1m').optional(),
  ...timeoutSettings,
});

export type ScimSettings = z.output<typeof settingsSchema>;

export const DEFAULT_MAX_RETRY_WAIT = 5;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * The base URL, resolved, checked and without a trailing slash. A bearer token is a password, so
 * plain http:// is refused except to a loopback address (a local test server or a sidecar).
 */
export function baseUrl(connector: string, url: string): string {
  // The value may have come from the environment: say what is expected, not what was given.
  const bad = (why: string) =>
    new InputError(`connector ${connector}: url ${why}`, {
      code: 'invalid_connector_settings',
      field: 'url',
    });
  if (!SCIM_URL.test(url)) throw bad('must be an https:// URL without a query or fragment');
  const parsed = new URL(url);
  if (parsed.username || parsed.password) throw bad('must not hold credentials; use token');
  if (parsed.protocol === 'http:' && !LOOPBACK.test(parsed.host.replace(/:\d+$/, ''))) {
    throw bad('must be https:// (http:// is allowed only to a loopback address)');
  }
  return url.replace(/\/+$/, '');
}
