/**
 * Transport-agnostic errors. The CLI maps them to exit codes and HTTP to statuses, once, at the edge.
 * A user error carries one line that names what was wrong and where, a stable machine-readable
 * `code` and, where it concerns one input, the `field`. Messages carry no CLI syntax, so the API,
 * the UI and an ITSM comment can render them as they are.
 */
export interface ErrorOptions {
  /** Stable, snake_case, machine-readable: clients branch on it, never on the message. */
  code?: string;
  /** The input the error concerns (`duration`, `entitlement`, `gatehouse.yaml:12`), if one. */
  field?: string;
  cause?: unknown;
}

export type ErrorKind =
  'input' | 'not_found' | 'conflict' | 'refused' | 'target' | 'locked' | 'stale';

export abstract class GatehouseError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: string;
  readonly field: string | undefined;
  constructor(message: string, defaultCode: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = opts.code ?? defaultCode;
    this.field = opts.field;
  }
}

/** Bad input: an unknown flag, a malformed value, a configuration error. Exit 1, HTTP 400. */
export class InputError extends GatehouseError {
  readonly kind: ErrorKind = 'input';
  constructor(message: string, opts?: ErrorOptions) {
    super(message, 'invalid_input', opts);
  }
}

/** The thing named does not exist (an unknown request, grant or identity). Exit 1, HTTP 404. */
export class NotFoundError extends InputError {
  override readonly kind: ErrorKind = 'not_found';
  constructor(message: string, opts?: ErrorOptions) {
    super(message, { code: 'not_found', ...opts });
  }
}

/** The input is well-formed but clashes with the current state (already decided…). Exit 1, HTTP 409. */
export class ConflictError extends InputError {
  override readonly kind: ErrorKind = 'conflict';
  constructor(message: string, opts?: ErrorOptions) {
    super(message, { code: 'conflict', ...opts });
  }
}

/** The actor is not allowed to do this (self-approval, not an approver of the stage, …). */
export class RefusedError extends GatehouseError {
  readonly kind: ErrorKind = 'refused';
  constructor(message: string, opts?: ErrorOptions) {
    super(message, 'refused', opts);
  }
}

export interface TargetErrorOptions extends ErrorOptions {
  /**
   * Whether trying again may succeed (a timeout, a refused connection, a 503) or not (a role that
   * does not exist, bad credentials). Defaults to true: an unknown failure is retried, not dropped.
   */
  retryable?: boolean;
  /** The target asked to be left alone this long (HTTP `Retry-After`, a rate limit). */
  retryAfterSeconds?: number;
}

/** A governed target did not do what was asked; the state is recorded, never silently passed. */
export class TargetError extends GatehouseError {
  readonly kind: ErrorKind = 'target';
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, opts: TargetErrorOptions = {}) {
    super(message, 'target_error', opts);
    this.retryable = opts.retryable ?? true;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

/** Another process holds the embedded store. */
export class StoreLockedError extends GatehouseError {
  readonly kind: ErrorKind = 'locked';
  constructor(message: string, opts?: ErrorOptions) {
    super(message, 'store_locked', opts);
  }
}

/**
 * The configuration changed (another node applied one) since this process cached it: the caller
 * reloads the catalog and decides again.
 */
export class StaleCatalogError extends GatehouseError {
  readonly kind: ErrorKind = 'stale';
  constructor() {
    super('the configuration changed while deciding; reload and retry', 'stale_catalog');
  }
}

/** The code and field of any error, for the edges; an unknown error is `internal`. */
export function errorCode(e: unknown): { code: string; field?: string } {
  if (e instanceof GatehouseError)
    return e.field === undefined ? { code: e.code } : { code: e.code, field: e.field };
  return { code: 'internal' };
}
