import { resolve } from 'node:path';
import { formatIssue } from '../../config/issues.js';
import { positional } from '../args.js';
import { type Command } from '../command.js';
import { printable, table } from '../format.js';

export const validate: Command = {
  name: 'validate',
  usage: 'validate DIR',
  summary: 'check a configuration directory without loading it',
  store: false,
  async run(r) {
    const dir = resolve(r.env.cwd, positional(r.args, 1, 'DIR: the configuration directory'));
    const { loadConfigDir } = await import('../../config/load.js');
    const { config, warnings } = await loadConfigDir(dir);
    const counts = {
      identities: config.identities.length,
      groups: config.groups.length,
      apps: config.apps.length,
      entitlements: config.entitlements.length,
      sod_rules: config.sod.length,
      birthright_rules: config.birthright.length,
      policies: config.policies.length,
      connectors: config.connectors.length,
    };
    for (const w of warnings) r.io.stderr(`warning: ${printable(formatIssue(w))}`);
    return {
      json: { ok: true, counts, warnings },
      text: `ok: ${Object.entries(counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}`,
    };
  },
};

export const apply: Command = {
  name: 'apply',
  usage: 'apply DIR [--dry-run] [--as ID]',
  summary: 'load a configuration directory (one transaction, idempotent, audited)',
  options: { 'dry-run': { type: 'boolean' } },
  async run(r) {
    const dir = resolve(r.env.cwd, positional(r.args, 1, 'DIR: the configuration directory'));
    const { loadConfigDir } = await import('../../config/load.js');
    const { config, warnings } = await loadConfigDir(dir);
    for (const w of warnings) r.io.stderr(`warning: ${printable(formatIssue(w))}`);
    const dryRun = r.args.values['dry-run'] === true;
    const as = typeof r.args.values.as === 'string' ? r.args.values.as : 'config:apply';
    const result = await r.app.apply(config, as, dryRun);
    const head = dryRun ? 'dry run, nothing written' : `applied configuration ${result.hash}`;
    const changes =
      result.changes.length === 0
        ? 'no changes'
        : table(result.changes as never[], ['change', 'kind', 'id']);
    const impact =
      result.impact.length === 0
        ? 'no live grant is affected'
        : `live grants the ${dryRun ? 'new ' : ''}configuration no longer permits:\n${table(result.impact as never[], ['grant', 'identity', 'entitlement', 'reason', 'rule'])}`;
    return { json: { ...result, warnings }, text: `${head}\n${changes}\n${impact}` };
  },
};
