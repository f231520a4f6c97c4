import type { ReconcileResult } from '../../core/reconcile/reconcile.js';
import { positional } from '../args.js';
import type { Command } from '../command.js';

function formatRun(r: ReconcileResult): string {
  const lines = [
    `run ${r.run.id ?? '(dry run: nothing written)'} ${r.run.status}`,
    ...r.run.connectors.map(
      (c) =>
        `  ${c.connector}: ${c.status === 'not_covered' ? 'not covered' : c.status}` +
        (c.status === 'not_covered'
          ? ''
          : `, ${c.assignments} assignments, ${c.grants} grants, ${c.findings} findings`) +
        (c.error ? ` (${c.error})` : ''),
    ),
  ];
  if (r.findings.length === 0) lines.push('no findings');
  for (const f of r.findings)
    lines.push(
      `${f.kind} ${f.action}: ${f.identity ?? `account ${f.account}`} ${f.entitlement ?? JSON.stringify(f.target)} on ${f.connector}${f.ticket ? ` ticket ${f.ticket}` : ''}${f.grant ? ` (${f.grant})` : ''}`,
    );
  return lines.join('\n');
}

export const reconcile: Command = {
  name: 'reconcile',
  usage: 'reconcile [CONNECTOR] [--dry-run] [--as ID]',
  summary: 'compare targets with the record; print findings and remediations',
  options: { 'dry-run': { type: 'boolean' } },
  async run(r) {
    const name =
      r.args.positionals[1] === undefined ? undefined : positional(r.args, 1, 'CONNECTOR');
    const as = r.args.values.as;
    const result = await r.app.reconcile({
      ...(name !== undefined ? { connector: name } : {}),
      dryRun: r.args.values['dry-run'] === true,
      actor: typeof as === 'string' && as !== '' ? as : 'operator',
    });
    // A run that could not cover every target is not a clean bill: exit 3, as sweep does.
    return {
      json: result,
      text: formatRun(result),
      ...(result.run.status === 'partial' ? { exitCode: 3 } : {}),
    };
  },
};
