import { InputError } from '../../core/errors.js';
import { positional, str } from '../args.js';
import type { Command } from '../command.js';
import { table } from '../format.js';

export const auditVerify: Command = {
  name: 'audit verify',
  usage: 'audit verify',
  summary: 'recompute the hash chain; name the first broken link',
  async run(r) {
    const result = await r.app.auditVerify();
    return {
      json: result,
      text: result.ok
        ? `ok: ${result.events} events, chain intact`
        : `BROKEN at event ${result.first_bad}: ${result.reason}`,
      exitCode: result.ok ? 0 : 3,
    };
  },
};

export const auditTrace: Command = {
  name: 'audit trace',
  usage: 'audit trace ID',
  summary: 'reconstruct a request or grant from request to verified removal',
  async run(r) {
    const events = await r.app.auditTrace(
      positional(r.args, 2, 'ID: a request (req_…) or grant (grt_…)'),
    );
    const rows = events.map((e) => ({
      seq: e.seq,
      at: e.at,
      actor: e.actor,
      action: e.action,
      subject: e.subject,
      details: JSON.stringify(e.details),
    }));
    return {
      json: { events },
      text: table(rows, ['seq', 'at', 'actor', 'action', 'subject', 'details']),
    };
  },
};

export const auditExport: Command = {
  name: 'audit export',
  usage: 'audit export [--since ISO8601]',
  summary: 'every event as JSON lines on stdout',
  options: { since: { type: 'string' } },
  async run(r) {
    const s = str(r.args, 'since');
    const since = s === undefined ? undefined : new Date(s);
    if (since && Number.isNaN(since.getTime()))
      throw new InputError(`--since: "${s}" is not an ISO 8601 time`);
    // JSON lines are already machine-readable: --json changes nothing here.
    await r.app.auditExport(since, (line) => r.io.stdout(line));
  },
};

export const report: Command = {
  name: 'report',
  usage: 'report',
  summary: 'governance and service metrics',
  async run(r) {
    const rep = await r.app.report();
    const text = Object.entries(rep)
      .map(
        ([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
      )
      .join('\n');
    return { json: rep, text };
  },
};
