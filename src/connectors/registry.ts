import type { Connector, ConnectorSource } from '../core/ports/connector.js';
import { TargetError } from '../core/errors.js';

export interface ConnectorConfig {
  name: string;
  type: string;
  settings: Record<string, unknown>;
}

/**
 * Connectors by name, each built on first use: a command that touches one target does not need
 * the credentials or the reachability of every other.
 */
export function connectorSource(
  configs: ConnectorConfig[] | ((name: string) => Promise<ConnectorConfig | undefined>),
  ctx: { env: NodeJS.ProcessEnv; dataDir: string },
): ConnectorSource & { closeAll(): Promise<void> } {
  const built = new Map<string, Promise<Connector>>();
  return {
    get(name: string): Promise<Connector> {
      const cached = built.get(name);
      if (cached) return cached;
      const lookup =
        typeof configs === 'function'
          ? configs(name)
          : Promise.resolve(configs.find((c) => c.name === name));
      // The promise is cached so concurrent callers share one build; a failed build is dropped
      // so that a later call (after the target or the environment is fixed) tries again.
      const building = lookup.then(async (config) => {
        if (!config) {
          throw new TargetError(`connector "${name}" is not configured`, {
            code: 'connector_not_configured',
            retryable: false,
          });
        }
        // Loaded when a connector is first built: the connector types pull in their drivers and
        // schemas, which a command that touches no target should not pay for (ADR 0029).
        const { connectorModule } = await import('./modules.js');
        const module = connectorModule(config.type);
        if (!module) {
          throw new TargetError(`connector ${name}: type "${config.type}" is not supported`, {
            code: 'connector_unavailable',
            retryable: false,
          });
        }
        // Unavailable types reject here too, from their module, with the same permanent code.
        return module.create(config, ctx);
      });
      built.set(name, building);
      building.catch(() => {
        if (built.get(name) === building) built.delete(name);
      });
      return building;
    },
    async closeAll(): Promise<void> {
      const all = [...built.values()];
      built.clear();
      const connectors = await Promise.allSettled(all);
      // Close every connector even if one fails to, then report the first failure.
      const closed = await Promise.allSettled(
        connectors.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)),
      );
      const failed = closed.find((c) => c.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
