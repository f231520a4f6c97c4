import { InputError } from '../core/errors.js';
import type { ListOptions } from '../core/ports/connector.js';

/** What a failure means for the job runtime, in the codes of ADR 0007; each type maps its own. */
export interface Classified {
  code: string;
  retryable: boolean;
  /** Failures of getting an answer at all, as opposed to an answer that was an error. */
  reach?: 'timeout' | 'unreachable';
}

/** Socket error codes that mean the target could not be reached: worth trying again. */
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

/**
 * A failure that is not the target's own answer: a timeout, a lost or refused connection (by
 * socket code, or by the words `lost` finds in the driver's message), else an unknown failure.
 * All are retried: waiting may heal them.
 */
export function transportFailure(code: string, message: string, lost: RegExp): Classified {
  if (code === 'ETIMEDOUT' || /timeout|timed out/i.test(message)) {
    return { code: 'target_timeout', retryable: true, reach: 'timeout' };
  }
  if (NETWORK.has(code) || lost.test(message)) {
    return { code: 'target_unreachable', retryable: true, reach: 'unreachable' };
  }
  return { code: 'target_error', retryable: true };
}

const DEFAULT_PAGE_SIZE = 1000;

/** The page size a listing was asked for, checked; a connector's listing pages by it. */
export function pageSizeOf(connector: string, opts: ListOptions): number {
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new InputError(`connector ${connector}: the page size must be a positive integer`, {
      code: 'invalid_page_size',
    });
  }
  return pageSize;
}
