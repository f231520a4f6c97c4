import { ldapModule } from './ldap.js';
import { manualModule } from './manual.js';
import { webhookModule } from './webhook.js';
import type { ConnectorModule } from './module.js';

export { ownSettings, type ConnectorModule } from './module.js';
import { postgresModule } from './postgres.js';
import { scimModule } from './scim.js';

/**
 * The one list of connector types: config validation (src/config) and the registry both read it.
 * Order is the order messages list them in.
 */
export const connectorModules: readonly ConnectorModule[] = [
  postgresModule,
  ldapModule,
  scimModule,
  webhookModule,
  manualModule,
];

export const CONNECTOR_TYPES = connectorModules.map((m) => m.type) as [string, ...string[]];

/** The module of a type, or undefined (an own-property lookup: "toString" is no type). */
export function connectorModule(type: string): ConnectorModule | undefined {
  return connectorModules.find((m) => m.type === type);
}
