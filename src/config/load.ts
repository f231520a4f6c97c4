import type { GovernanceConfig } from '../core/model.js';
import { checkAccounts } from './accounts.js';
import { loadApps } from './apps.js';
import { loadBirthright } from './birthright.js';
import { loadPolicies } from './cedar-parse.js';
import { loadConnectors } from './connectors.js';
import type { LoadContext } from './context.js';
import { Refs, resolveRefs } from './crossref.js';
import { loadIdentities } from './csv.js';
import { loadIntegrations } from './integrations.js';
import { readConfigFiles } from './files.js';
import { loadGroups } from './groups.js';
import { ConfigError, Issues, sortIssues, type ConfigIssue } from './issues.js';
import { newRegistry } from './names.js';
import { loadReviews } from './reviews.js';
import { checkOverlaps } from './overlaps.js';
import { loadSettings } from './settings.js';
import { loadSod } from './sod.js';

export { ConfigError, formatIssue, type ConfigIssue } from './issues.js';

/**
 * Reads and cross-checks a configuration directory (CONFIG.md). Throws ConfigError listing every
 * error found, each with its file and line; warnings (e.g. a name not in identities.csv, which the
 * HR sync may still bring) are returned beside the config.
 */
export async function loadConfigDir(
  dir: string,
): Promise<{ config: GovernanceConfig; warnings: ConfigIssue[] }> {
  const issues = new Issues();
  const ctx: LoadContext = { issues, reg: newRegistry(), refs: new Refs() };
  const files = await readConfigFiles(dir, issues);

  const settings = loadSettings(files.settings, ctx);
  const identities = loadIdentities(files.identities, ctx);
  const groups = loadGroups(files.groups, ctx);
  const connectors = loadConnectors(files.connectors, ctx);
  const { apps, entitlements, targets } = loadApps(files.apps, connectors, ctx);
  const sod = loadSod(files.sod, ctx);
  const birthright = loadBirthright(files.birthright, entitlements, ctx);
  const policies = loadPolicies(files.policies, ctx);
  const reviews = loadReviews(files.reviews, { apps, entitlements }, ctx);
  if (reviews.length > 0) settings.reviews = reviews;
  const integrations = loadIntegrations(files.integrations, ctx);
  if (integrations.length > 0) settings.integrations = integrations;
  resolveRefs(ctx.refs, ctx.reg, issues);
  checkAccounts({ identities, connectors, apps, entitlements }, ctx);
  checkOverlaps(targets, issues);

  if (issues.errors.length > 0) throw new ConfigError(sortIssues(issues.errors));
  const config = {
    settings,
    identities,
    groups,
    apps,
    entitlements,
    sod,
    birthright,
    policies,
    connectors,
  };
  return { config, warnings: sortIssues(issues.warnings) };
}
