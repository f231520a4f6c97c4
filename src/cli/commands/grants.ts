import { parseDuration } from '../../core/duration.js';
import { need, positional, str } from '../args.js';
import { type Command, actor } from '../command.js';
import { formatGrants } from '../format.js';

export const grants: Command = {
  name: 'grants',
  usage: 'grants [--identity ID] [--app APP] [--state S] [--expiring-within 7d]',
  summary: 'the live entitlement record',
  options: {
    identity: { type: 'string' },
    app: { type: 'string' },
    state: { type: 'string' },
    'expiring-within': { type: 'string' },
  },
  async run(r) {
    const within = str(r.args, 'expiring-within');
    const list = await r.app.grants({
      ...(str(r.args, 'identity') ? { identity: str(r.args, 'identity') } : {}),
      ...(str(r.args, 'app') ? { app: str(r.args, 'app') } : {}),
      ...(str(r.args, 'state') ? { state: str(r.args, 'state') } : {}),
      ...(within ? { expiringWithin: parseDuration(within, '--expiring-within') } : {}),
    });
    return { json: { grants: list }, text: formatGrants(list) };
  },
};

export const revoke: Command = {
  name: 'revoke',
  usage: 'revoke GRANT --reason TEXT --as ID',
  summary: 'revoke now (trigger manual); removal is verified by the next sweep',
  options: { reason: { type: 'string' } },
  async run(r) {
    const g = await r.app.revoke(
      positional(r.args, 1, 'GRANT: the grant to revoke'),
      actor(r, 'revoke'),
      need(r.args, 'reason', 'say why the grant is revoked'),
      'cli',
    );
    return { json: g, text: formatGrants([g]) };
  },
};

export const letExpire: Command = {
  name: 'let-expire',
  usage: 'let-expire GRANT --as ID',
  summary: 'answer an expiry reminder: no more reminders, the grant expires as planned',
  async run(r) {
    const g = await r.app.letExpire(
      positional(r.args, 1, 'GRANT: the grant to let expire'),
      actor(r, 'let-expire'),
      'cli',
    );
    return { json: g, text: formatGrants([g]) };
  },
};

export const sweep: Command = {
  name: 'sweep',
  usage: 'sweep',
  summary: 'run every due job now: provisioning and retries, expiries, reminders, lapses',
  async run(r) {
    const result = await r.app.sweep();
    return {
      json: result,
      text: `expired ${result.expired}, reminded ${result.reminded}, lapsed ${result.lapsed}, target jobs done ${result.jobs_done}, failed attempts ${result.jobs_failed}`,
    };
  },
};
