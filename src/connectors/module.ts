import { z } from 'zod';
import type {
  Connector,
  ConnectorCapabilities,
  ConnectorFactory,
} from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { duration, firstProblem } from './schema.js';

/**
 * One connector type: what its settings and its entitlements' targets must hold, what it can do,
 * and how to build it. `validate` checks configuration against the schemas at file:line, the
 * registry builds connectors with `create`, and the shared contract test checks that a built
 * connector behaves as declared. Adding a type is adding one module to src/connectors/modules.ts.
 */
export interface ConnectorModule {
  readonly type: string;
  /**
   * The settings of a connectors.yaml entry besides the keys every type shares (`name`, `type`,
   * `reconcile`, `account_attribute`), as written: `${VAR}` references unresolved, durations as text.
   */
  readonly settings: z.ZodType;
  /** What an entitlement's `target:` mapping must hold for this type, e.g. `{ role }`. */
  readonly target: z.ZodType;
  readonly capabilities: ConnectorCapabilities;
  /**
   * Two targets with the same key are one assignment in the target (e.g. one LDAP group written
   * as two DNs that differ in case); `validate` refuses two entitlements on one. Default: the
   * target's entries as written.
   */
  readonly assignmentKey?: (target: Record<string, string>) => string;
  /**
   * Set when the type is declared (its settings and targets are checked) but not implemented in
   * this version: `validate` warns, and building a connector of it fails permanently.
   */
  readonly unavailable?: string;
  readonly create: ConnectorFactory;
}

/** Settings keys every connector type shares; connectorsFile (src/config/schemas.ts) checks them. */
export const SHARED_SETTINGS = ['name', 'type', 'reconcile', 'account_attribute'] as const;

/** The settings a module's schema checks: the entry without the shared keys. */
export function ownSettings(settings: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(settings).filter(([k]) => !(SHARED_SETTINGS as readonly string[]).includes(k)),
  );
}

/**
 * A module's settings, parsed. Configuration was checked by `validate`, but a factory may be
 * called with settings from an older store or a test, so the first problem is an input error
 * naming the connector and the setting.
 */
export function parseSettings<S extends z.ZodType>(
  schema: S,
  config: { name: string; settings: Record<string, unknown> },
): z.output<S> {
  const r = schema.safeParse(ownSettings(config.settings));
  if (r.success) return r.data;
  const problem = firstProblem(r.error);
  throw new InputError(`connector ${config.name}: ${problem.message}`, {
    code: 'invalid_connector_settings',
    field: problem.path || undefined,
  });
}

/** A timeout long enough to hold a job for an hour is a hang by another name. */
const timeout = duration.refine((s) => s <= 3600, 'must be at most 1h');

/** A connect and a per-statement timeout, for types that talk to a server over a network. */
export const timeoutSettings = {
  /** Seconds to open a connection and log in; a target that accepts and never answers fails then. */
  connect_timeout: timeout.optional(),
  /** Seconds any one statement or request may take, the answer included. */
  statement_timeout: timeout.optional(),
};
export const DEFAULT_CONNECT_TIMEOUT = 5;
export const DEFAULT_STATEMENT_TIMEOUT = 15;

/** The permanent error of a capability the connector's type does not declare. */
export function unsupported(connector: Connector | string, capability: string): TargetError {
  const name = typeof connector === 'string' ? connector : connector.name;
  return new TargetError(`connector ${name}: its type cannot ${capability}`, {
    code: 'capability_unsupported',
    retryable: false,
  });
}

/** `listAll` of a type without `listsAssignments`: throws on the first page. */
export function noListing(connector: string): AsyncIterable<never> {
  return {
    [Symbol.asyncIterator]() {
      return {
        next: () => Promise.reject(unsupported(connector, 'list its assignments')),
      };
    },
  };
}
