/**
 * Transport-agnostic errors. The CLI maps them to exit codes and HTTP to statuses, once, at the edge.
 * A user error carries one line that names what was wrong and where.
 */
export class InputError extends Error {
  readonly kind = 'input';
}

/** The actor is not allowed to do this (self-approval, not an approver of the stage, …). */
export class RefusedError extends Error {
  readonly kind = 'refused';
}

/** A governed target did not do what was asked; the state is recorded, never silently passed. */
export class TargetError extends Error {
  readonly kind = 'target';
}

/** Another process holds the embedded store. */
export class StoreLockedError extends Error {
  readonly kind = 'locked';
}

/**
 * The configuration changed (another node applied one) since this process cached it: the caller
 * reloads the catalog and decides again.
 */
export class StaleCatalogError extends Error {
  readonly kind = 'stale';
  constructor() {
    super('the configuration changed while deciding; reload and retry');
  }
}
