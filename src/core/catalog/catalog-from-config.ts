import { createHash } from 'node:crypto';
import { canonical } from '../audit/chain.js';
import type { Catalog } from './catalog.js';
import type { GovernanceConfig } from '../model.js';
import { PolicyEngine } from '../policy/engine.js';

/** The configuration's identity: identical directories hash the same, so re-applying is a no-op. */
export function configHash(cfg: GovernanceConfig): string {
  return createHash('sha256').update(canonical(cfg)).digest('hex').slice(0, 16);
}

/** A catalog straight from a parsed directory, for impact analysis before anything is written. */
export async function catalogFromConfig(
  cfg: GovernanceConfig,
  hash = configHash(cfg),
): Promise<Catalog> {
  return {
    hash,
    settings: cfg.settings,
    apps: new Map(cfg.apps.map((a) => [a.id, a])),
    entitlements: new Map(cfg.entitlements.map((e) => [e.id, e])),
    sod: cfg.sod,
    birthright: cfg.birthright,
    groups: new Map(cfg.groups.map((g) => [g.id, g.members])),
    connectors: new Map(cfg.connectors.map((c) => [c.name, c])),
    policy: await PolicyEngine.prepare(cfg.policies),
  };
}
