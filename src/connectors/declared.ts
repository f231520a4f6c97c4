import { z } from 'zod';
import { TargetError } from '../core/errors.js';
import { fields } from './schema.js';
import type { ConnectorFactory } from '../core/ports/connector.js';
import { timeoutSettings, type ConnectorModule } from './module.js';

/**
 * Types the configuration format names (CONFIG.md) but this version does not implement yet. They
 * stay declared, so a connectors.yaml written for them is checked now (settings, targets) and
 * `validate` warns that they cannot provision; building one fails with a permanent
 * `connector_unavailable`, never silently. Implementing one replaces its entry here with a module
 * of its own file, and the shared contract test then applies to it.
 */
const unavailable =
  (type: string): ConnectorFactory =>
  (config) =>
    Promise.reject(
      new TargetError(
        `connector ${config.name}: type "${type}" is not available in this version of Gatehouse (its configuration is checked, but it cannot provision)`,
        { code: 'connector_unavailable', retryable: false },
      ),
    );

const text = z.string().min(1);
/** Free text a person or a remote system reads: any non-empty mapping of names to text. */
const described = z
  .record(z.string(), z.string())
  .refine((t) => Object.keys(t).length > 0, 'needs at least one field describing the access');

const NOT_YET = 'declared for configuration; not implemented in this version';

export const webhookModule: ConnectorModule = {
  type: 'webhook',
  settings: fields({
    url: text,
    token: text.optional(),
    secret: text.optional(),
    ...timeoutSettings,
  }),
  target: described,
  capabilities: {
    listsAssignments: false,
    issuesCredentials: false,
    reportsLastUse: false,
    fulfilsAsynchronously: true,
  },
  unavailable: NOT_YET,
  create: unavailable('webhook'),
};

export const manualModule: ConnectorModule = {
  type: 'manual',
  settings: fields({ instructions: z.string().optional() }),
  target: described,
  capabilities: {
    listsAssignments: false,
    issuesCredentials: false,
    reportsLastUse: false,
    fulfilsAsynchronously: true,
  },
  unavailable: NOT_YET,
  create: unavailable('manual'),
};
