// What a failure from the LDAP server, ldapts or the socket means for the job runtime, in the
// codes of ADR 0007 (ADR 0013 gives the mapping's reasons).
import { type Classified, transportFailure } from './classify.js';

export type { Classified };

/**
 * LDAP result codes (RFC 4511 appendix A) → what the runtime should do. What waiting cannot fix
 * (credentials, rights, a missing entry, a change the schema refuses) is permanent; a busy or
 * unavailable server and time limits are retried; unknown codes are retried.
 */
const RESULT_CODES: Record<number, Classified> = {
  3: { code: 'target_timeout', retryable: true, reach: 'timeout' }, // timeLimitExceeded
  7: { code: 'target_auth_failed', retryable: false }, // authMethodNotSupported
  8: { code: 'target_auth_failed', retryable: false }, // strongerAuthRequired
  11: { code: 'target_busy', retryable: true }, // adminLimitExceeded
  13: { code: 'target_auth_failed', retryable: false }, // confidentialityRequired
  32: { code: 'target_not_found', retryable: false }, // noSuchObject
  48: { code: 'target_auth_failed', retryable: false }, // inappropriateAuthentication
  49: { code: 'target_auth_failed', retryable: false }, // invalidCredentials
  50: { code: 'target_forbidden', retryable: false }, // insufficientAccessRights
  51: { code: 'target_busy', retryable: true }, // busy
  52: { code: 'target_unavailable', retryable: true }, // unavailable
  80: { code: 'target_error', retryable: true }, // other
};
/** Protocol, syntax, schema and naming errors: the request is wrong, not the moment. */
const REJECTED = new Set([2, 10, 17, 18, 19, 21, 34, 53, 64, 65, 67, 69]);

/** What a failure from ldapts or the socket means for the runtime. Unknown failures are retried. */
export function classify(e: unknown): Classified {
  const err = (e ?? {}) as { code?: unknown; message?: unknown };
  if (typeof err.code === 'number') {
    if (RESULT_CODES[err.code]) return RESULT_CODES[err.code]!;
    if (REJECTED.has(err.code)) return { code: 'target_rejected', retryable: false };
    return { code: 'target_error', retryable: true };
  }
  const code = typeof err.code === 'string' ? err.code : '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME_MISMATCH/.test(code)) {
    return { code: 'target_tls_failed', retryable: false };
  }
  return transportFailure(code, String(err.message ?? e), /connect|socket|closed/i);
}
