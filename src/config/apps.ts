import { formatDuration } from '../core/duration.js';
import type { App, ConnectorConfig, Entitlement } from '../core/model.js';
import type { PlacedTarget } from './overlaps.js';
import { noteChain, noteRef, type LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { defineFromYaml } from './names.js';
import { appFile, type AppFile, type EntitlementYaml } from './schemas.js';
import { YamlSource } from './yaml-source.js';
import { validate, validateAt } from './zod-issues.js';
import { connectorModule } from '../connectors/modules.js';

/** Neither default_duration nor max_duration given: grants still expire (PRODUCT.md section 4). */
const FALLBACK_DURATION = 90 * 86400;

export interface LoadedApps {
  apps: App[];
  entitlements: Entitlement[];
  /** Every valid target with where it was written, for the overlap check. */
  targets: PlacedTarget[];
}

function toEntitlement(
  e: EntitlementYaml,
  index: number,
  app: AppFile,
  connector: ConnectorConfig | undefined,
  src: YamlSource,
  ctx: LoadContext,
  targets: PlacedTarget[],
): Entitlement {
  const path = ['entitlements', index];
  const err = (field: string, message: string) =>
    ctx.issues.error(src.place([...path, field]), `entitlements[${index}].${field}: ${message}`);

  if (
    e.default_duration !== undefined &&
    e.max_duration !== undefined &&
    e.default_duration > e.max_duration
  ) {
    err(
      'default_duration',
      `${formatDuration(e.default_duration)} is longer than max_duration ${formatDuration(e.max_duration)}`,
    );
  }
  const seats = app.licence?.seats ?? {};
  if (e.licence_tier !== undefined && !(e.licence_tier in seats)) {
    const tiers = Object.keys(seats);
    err(
      'licence_tier',
      `"${e.licence_tier}" is not a tier of licence.seats (${tiers.length ? tiers.join(', ') : 'the app has none'})`,
    );
  }
  const module = connector && connectorModule(connector.type);
  let valid = true;
  if (module) {
    const why = ` (connector ${connector.name} is of type ${connector.type})`;
    valid =
      validateAt(src, [...path, 'target'], module.target, e.target, ctx.issues, why) !== undefined;
  }
  if (valid)
    targets.push({
      entitlement: e.id,
      connector: app.connector,
      connectorType: connector?.type,
      target: e.target,
      place: src.place([...path, 'target']),
    });
  if (e.approval) noteChain(ctx, src, [...path, 'approval'], e.approval);
  if (e.credential && module && !module.capabilities.issuesCredentials) {
    ctx.issues.error(
      src.place([...path, 'credential']),
      `entitlements[${index}].credential: connector ${connector!.name} (type ${connector!.type}) cannot issue credentials`,
    );
  }
  if (e.credential && !e.kinds.some((k) => k !== 'human')) {
    ctx.issues.error(
      src.place([...path, 'credential']),
      `entitlements[${index}].credential: credentials are issued for non-human identities only; add a non-human kind to kinds`,
    );
  }
  return {
    id: e.id,
    app: app.id,
    risk: e.risk ?? app.risk,
    privileged: e.privileged,
    maxDuration: e.max_duration ?? null,
    defaultDuration: e.default_duration ?? e.max_duration ?? FALLBACK_DURATION,
    standing: e.standing,
    kinds: [...new Set(e.kinds)],
    requiresTicket: e.requires_ticket,
    breakGlass: e.break_glass,
    approval: e.approval ?? null,
    licenceTier: e.licence_tier ?? null,
    target: e.target,
    credentialRotation: e.credential?.rotation ?? null,
  };
}

/** apps/*.yaml: one application per file, with its entitlements. */
export function loadApps(
  files: ConfigFile[],
  connectors: ConnectorConfig[],
  ctx: LoadContext,
): LoadedApps {
  const out: LoadedApps = { apps: [], entitlements: [], targets: [] };
  const byName = new Map(connectors.map((c) => [c.name, c]));
  for (const file of files) {
    const src = YamlSource.parse(file.rel, file.text, ctx.issues);
    defineFromYaml(ctx.reg.apps, src, ['id'], undefined, ctx.issues);
    defineFromYaml(ctx.reg.entitlements, src, ['entitlements'], 'id', ctx.issues);
    const y = validate(src, appFile, ctx.issues, {});
    if (!y) continue;
    noteRef(ctx.refs.identities, src, ['owner'], y.owner);
    noteRef(ctx.refs.connectors, src, ['connector'], y.connector);
    out.apps.push({
      id: y.id,
      name: y.name ?? y.id,
      risk: y.risk,
      owner: y.owner,
      connector: y.connector,
      licenceSeats: y.licence?.seats ?? {},
    });
    y.entitlements.forEach((e, i) => {
      out.entitlements.push(toEntitlement(e, i, y, byName.get(y.connector), src, ctx, out.targets));
    });
  }
  return out;
}
