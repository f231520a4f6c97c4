// What an HTTP answer or a transport failure from a SCIM service provider means for the job
// runtime, in the codes of ADR 0007 (ADR 0017 gives the mapping's reasons).
import { type Classified, transportFailure } from './classify.js';

export type { Classified };

/**
 * HTTP statuses (RFC 7644 3.12) → what the runtime should do. Credentials, rights and requests the
 * provider refuses are permanent; throttling, a busy or unavailable provider are retried.
 */
const STATUSES: Record<number, Classified> = {
  400: { code: 'target_rejected', retryable: false },
  401: { code: 'target_auth_failed', retryable: false },
  403: { code: 'target_forbidden', retryable: false },
  404: { code: 'target_not_found', retryable: false },
  408: { code: 'target_timeout', retryable: true, reach: 'timeout' },
  409: { code: 'target_conflict', retryable: true },
  412: { code: 'target_conflict', retryable: true },
  429: { code: 'target_rate_limited', retryable: true },
  500: { code: 'target_error', retryable: true },
  501: { code: 'target_rejected', retryable: false },
  502: { code: 'target_unavailable', retryable: true },
  503: { code: 'target_unavailable', retryable: true },
  504: { code: 'target_timeout', retryable: true, reach: 'timeout' },
};

/** What an HTTP error status means; other 4xx are refusals, other 5xx are retried. */
export function classifyStatus(status: number): Classified {
  return (
    STATUSES[status] ??
    (status >= 400 && status < 500
      ? { code: 'target_rejected', retryable: false }
      : { code: 'target_error', retryable: true })
  );
}

/** What a failure to get an answer at all means: a certificate is permanent, the rest retried. */
export function classifyTransport(e: unknown): Classified {
  const err = (e ?? {}) as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
  // undici wraps socket errors in a TypeError('fetch failed') or passes them as `cause`.
  const inner = (err.cause ?? {}) as { code?: unknown; message?: unknown };
  const code = String(err.code ?? inner.code ?? '');
  const message = `${String(err.message ?? e)} ${String(inner.message ?? '')}`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME_MISMATCH/.test(code)) {
    return { code: 'target_tls_failed', retryable: false };
  }
  if (err.name === 'TimeoutError' || /^UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT$/.test(code)) {
    return { code: 'target_timeout', retryable: true, reach: 'timeout' };
  }
  return transportFailure(code, message, /socket|closed|other side|terminated|reset/i);
}

/**
 * Seconds a `Retry-After` header asks to wait (RFC 9110 10.2.3): delta-seconds or an HTTP-date,
 * measured against `now`; undefined when absent or unreadable.
 */
export function retryAfterSeconds(header: string | undefined, now: number): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
