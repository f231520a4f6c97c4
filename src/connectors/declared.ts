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
/** A group's DN or display name; the connector that comes resolves it. */
const group = fields({ group: text });

const NOT_YET = 'declared for configuration; not implemented in this version';

export const scimModule: ConnectorModule = {
  type: 'scim',
  settings: fields({ url: text, token: text, ...timeoutSettings }),
  target: group,
  capabilities: {
    listsAssignments: true,
    issuesCredentials: false,
    reportsLastUse: false,
    fulfilsAsynchronously: false,
  },
  unavailable: NOT_YET,
  create: unavailable('scim'),
};
