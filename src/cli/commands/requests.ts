import { parseDuration } from '../../core/duration.js';
import { PAGE_OPTIONS, PAGE_USAGE, pageArgs, positional, need, str } from '../args.js';
import { type Command, actor } from '../command.js';
import { formatRequest, paged, table } from '../format.js';

/** `--duration 8h`, or `standing` for access without expiry where the entitlement allows it. */
function duration(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  return value === 'standing' ? null : parseDuration(value, '--duration');
}

const requestOptions = {
  for: { type: 'string' },
  duration: { type: 'string' },
  reason: { type: 'string' },
  ticket: { type: 'string' },
  emergency: { type: 'boolean' },
} as const;

export const request: Command = {
  name: 'request',
  usage:
    'request ENT --for ID [--duration 8h] --reason TEXT [--ticket SYS:KEY] [--emergency] --as ID',
  summary: 'submit a request; prints it with its decision',
  options: requestOptions,
  async run(r) {
    const view = await r.app.request({
      requester: actor(r, 'request'),
      via: 'cli',
      beneficiary: need(r.args, 'for', 'the identity who would hold the access'),
      entitlement: positional(r.args, 1, 'ENT: the entitlement to request (e.g. github:read)'),
      justification: str(r.args, 'reason') ?? '',
      duration: duration(str(r.args, 'duration')),
      ticket: str(r.args, 'ticket') ?? null,
      emergency: r.args.values.emergency === true,
    });
    return { json: view, text: formatRequest(view) };
  },
};

export const explain: Command = {
  name: 'explain',
  usage:
    'explain ENT --for ID [--duration 8h] [--reason TEXT] [--ticket SYS:KEY] [--emergency] [--as ID]',
  summary: 'dry run of the decision; nothing is written',
  options: requestOptions,
  async run(r) {
    const beneficiary = need(r.args, 'for', 'the identity who would hold the access');
    const view = await r.app.explain({
      requester: str(r.args, 'as') ?? beneficiary,
      via: 'cli',
      beneficiary,
      entitlement: positional(r.args, 1, 'ENT: the entitlement to explain'),
      // Explaining is for trying things out: a missing reason is assumed to be given.
      justification: str(r.args, 'reason') ?? 'explain: justification assumed',
      duration: duration(str(r.args, 'duration')),
      ticket: str(r.args, 'ticket') ?? null,
      emergency: r.args.values.emergency === true,
    });
    return { json: view, text: formatRequest(view) };
  },
};

export const extend: Command = {
  name: 'extend',
  usage: 'extend GRANT [--duration 30d] --reason TEXT [--ticket SYS:KEY] --as ID',
  summary: 'request more time on a held grant, decided like any request',
  options: { duration: { type: 'string' }, reason: { type: 'string' }, ticket: { type: 'string' } },
  async run(r) {
    const d = str(r.args, 'duration');
    const view = await r.app.extend({
      requester: actor(r, 'extend'),
      via: 'cli',
      grant: positional(r.args, 1, 'GRANT: the grant to extend'),
      justification: str(r.args, 'reason') ?? '',
      ...(d ? { duration: parseDuration(d, '--duration') } : {}),
      ticket: str(r.args, 'ticket') ?? null,
    });
    return { json: view, text: formatRequest(view) };
  },
};

export const approve: Command = {
  name: 'approve',
  usage: 'approve REQ [--comment TEXT] --as ID',
  summary: "approve the request's current stage",
  options: { comment: { type: 'string' } },
  async run(r) {
    const view = await r.app.act(
      positional(r.args, 1, 'REQ: the request to approve'),
      actor(r, 'approve'),
      'approve',
      str(r.args, 'comment') ?? '',
      'cli',
    );
    return { json: view, text: formatRequest(view) };
  },
};

export const reject: Command = {
  name: 'reject',
  usage: 'reject REQ --comment TEXT --as ID',
  summary: 'reject the request (one rejection rejects)',
  options: { comment: { type: 'string' } },
  async run(r) {
    const id = positional(r.args, 1, 'REQ: the request to reject');
    const view = await r.app.act(
      id,
      actor(r, 'reject'),
      'reject',
      need(r.args, 'comment', 'say why the request is rejected'),
      'cli',
    );
    return { json: view, text: formatRequest(view) };
  },
};

export const cancel: Command = {
  name: 'cancel',
  usage: 'cancel REQ [--comment TEXT] --as ID',
  summary: 'withdraw a pending request (its requester or beneficiary)',
  options: { comment: { type: 'string' } },
  async run(r) {
    const view = await r.app.cancel(
      positional(r.args, 1, 'REQ: the request to cancel'),
      actor(r, 'cancel'),
      str(r.args, 'comment') ?? '',
      'cli',
    );
    return { json: view, text: formatRequest(view) };
  },
};

export const requests: Command = {
  name: 'requests',
  usage: `requests [--status S] [--approver ID] ${PAGE_USAGE}`,
  summary: 'list requests, a page at a time; --approver lists what waits on that person',
  options: { status: { type: 'string' }, approver: { type: 'string' }, ...PAGE_OPTIONS },
  async run(r) {
    const status = str(r.args, 'status');
    const approver = str(r.args, 'approver');
    const page = await r.app.requests(
      {
        ...(status ? { status } : {}),
        ...(approver ? { approver } : {}),
      },
      pageArgs(r.args),
    );
    const rows = page.requests.map((v) => ({
      id: v.id,
      status: v.status,
      entitlement: v.entitlement,
      beneficiary: v.beneficiary,
      requester: v.requester,
      outcome: v.decision.outcome,
      created: v.created_at,
    }));
    return {
      json: page,
      text: paged(
        table(rows, [
          'id',
          'status',
          'entitlement',
          'beneficiary',
          'requester',
          'outcome',
          'created',
        ]),
        rows.length,
        page.next_cursor,
      ),
    };
  },
};
