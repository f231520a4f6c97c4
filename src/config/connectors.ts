import type { ConnectorConfig } from '../core/model.js';
import type { LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { defineFromYaml } from './names.js';
import { connectorsFile } from './schemas.js';
import { checkSecrets } from './secrets.js';
import { type Path, YamlSource } from './yaml-source.js';
import { formatPath, validate, validateAt } from './zod-issues.js';
import { connectorModule, ownSettings } from '../connectors/modules.js';
import { referencesIn, refusedReference } from '../core/secrets.js';

/**
 * The type's own settings against its module's schema. A type declared but not implemented is
 * checked too, and warned about: it would pass otherwise as if it could provision.
 */
function checkSettings(
  name: string,
  type: string,
  settings: Record<string, unknown>,
  index: number,
  src: YamlSource,
  ctx: LoadContext,
): void {
  const module = connectorModule(type);
  if (!module) return; // connectorsFile has reported the type already
  validateAt(src, [index], module.settings, ownSettings(settings), ctx.issues);
  if (module.unavailable) {
    ctx.issues.warn(
      src.place([index, 'type']),
      `[${index}].type: connector ${name} is of type "${type}", which this version of Gatehouse cannot provision through yet; grants through it fail (connector_unavailable)`,
    );
  }
}

/** Every ${VAR} a setting names must be one a connector may read (see refusedReference). */
function checkReferences(value: unknown, src: YamlSource, path: Path, ctx: LoadContext): void {
  if (typeof value === 'string') {
    for (const name of referencesIn(value)) {
      const refused = refusedReference(name, ctx.envAllow);
      if (refused) ctx.issues.error(src.place(path), `${formatPath(path)}: refers to ${refused}`);
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value))
      checkReferences(v, src, [...path, Array.isArray(value) ? Number(k) : k], ctx);
  }
}

/** connectors.yaml: targets and how to reach them; ${VAR} references stay unresolved. */
export function loadConnectors(file: ConfigFile | undefined, ctx: LoadContext): ConnectorConfig[] {
  if (!file) return [];
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  defineFromYaml(ctx.reg.connectors, src, [], 'name', ctx.issues);
  const y = validate(src, connectorsFile, ctx.issues, []);
  if (src.ok) {
    checkSecrets(src.value, src, [], ctx.issues);
    checkReferences(src.value, src, [], ctx);
  }
  if (!y) return [];
  // Settings come from the raw value: validation converts durations, the connector wants the text.
  const raw = (src.value ?? []) as Record<string, unknown>[];
  return y.map((c, i) => {
    const settings = Object.fromEntries(
      Object.entries(raw[i] ?? {}).filter(([k]) => k !== 'name' && k !== 'type'),
    );
    checkSettings(c.name, c.type, settings, i, src, ctx);
    // A manual connector's fulfilling group must exist (resolved with every group reference).
    if (typeof settings.fulfillers === 'string')
      ctx.refs.rules.push({
        name: `group:${settings.fulfillers}`,
        place: src.place([i, 'fulfillers']),
        label: formatPath([i, 'fulfillers']),
      });
    return { name: c.name, type: c.type, settings };
  });
}
