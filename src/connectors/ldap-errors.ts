/**
 * What a failure from the LDAP server, ldapts or the socket means for the job runtime, in the
 * codes of ADR 0007 (ADR 0013 gives the mapping's reasons).
 */
export interface Classified {
  code: string;
  retryable: boolean;
  /** Failures of getting an answer at all, as opposed to an answer that was an error. */
  reach?: 'timeout' | 'unreachable';
}

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

const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What a failure from ldapts or the socket means for the runtime. Unknown failures are retried. */
export function classify(e: unknown): Classified {
  const err = (e ?? {}) as { code?: unknown; message?: unknown };
  if (typeof err.code === 'number') {
    if (RESULT_CODES[err.code]) return RESULT_CODES[err.code]!;
    if (REJECTED.has(err.code)) return { code: 'target_rejected', retryable: false };
    return { code: 'target_error', retryable: true };
  }
  const code = typeof err.code === 'string' ? err.code : '';
  const message = String(err.message ?? e);
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME_MISMATCH/.test(code)) {
    return { code: 'target_tls_failed', retryable: false };
  }
  if (code === 'ETIMEDOUT' || /timeout|timed out/i.test(message)) {
    return { code: 'target_timeout', retryable: true, reach: 'timeout' };
  }
  if (NETWORK.has(code) || /connect|socket|closed/i.test(message)) {
    return { code: 'target_unreachable', retryable: true, reach: 'unreachable' };
  }
  return { code: 'target_error', retryable: true };
}
