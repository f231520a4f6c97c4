import { resolve } from 'node:path';
import { InputError } from '../../core/errors.js';
import { IDENTITY_KINDS, type IdentityKind } from '../../core/model.js';
import { PAGE_OPTIONS, PAGE_USAGE, pageArgs, positional, str } from '../args.js';
import type { Command } from '../command.js';
import { formatGrants, paged, table } from '../format.js';

function kinds(value: string | undefined): IdentityKind[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((k) => k.trim());
  for (const k of list) {
    if (!(IDENTITY_KINDS as readonly string[]).includes(k))
      throw new InputError(`--kinds: "${k}" is not one of ${IDENTITY_KINDS.join(', ')}`);
  }
  return list as IdentityKind[];
}

export const identitiesSync: Command = {
  name: 'identities sync',
  usage: 'identities sync FILE [--kinds human,service_account] [--allow-mass-leave] [--as ID]',
  summary: 'apply an identity snapshot (CSV or JSON): joiners, movers, leavers',
  options: { kinds: { type: 'string' }, 'allow-mass-leave': { type: 'boolean' } },
  async run(r) {
    const file = resolve(r.env.cwd, positional(r.args, 2, 'FILE: the snapshot (CSV or JSON)'));
    const { loadSnapshot } = await import('../../config/snapshot.js');
    const snapshot = await loadSnapshot(file);
    const as = typeof r.args.values.as === 'string' ? r.args.values.as : 'hr:sync';
    const result = await r.app.sync(
      snapshot,
      as,
      kinds(str(r.args, 'kinds')),
      r.args.values['allow-mass-leave'] === true,
    );
    const text = [
      `snapshot authoritative for: ${result.kinds.join(', ')}`,
      `joined ${result.joined.length}, moved ${result.moved.length}, left ${result.left.length}, unchanged ${result.unchanged}`,
      `birthright requests ${result.birthright_requests.length}, grants being revoked ${result.revoked.length}, sent to review ${result.sent_to_review.length}`,
      ...result.reassigned.map((x) => `owner of ${x.identity}: ${x.from} -> ${x.to}`),
    ].join('\n');
    return { json: result, text };
  },
};

export const identitiesList: Command = {
  name: 'identities list',
  usage: `identities list ${PAGE_USAGE}`,
  summary: 'identities, with owner, status and live grants, a page at a time',
  options: PAGE_OPTIONS,
  async run(r) {
    const page = await r.app.identities(pageArgs(r.args));
    return {
      json: page,
      text: paged(
        table(page.identities, [
          'id',
          'kind',
          'status',
          'owner',
          'manager',
          'department',
          'title',
          'grants',
        ]),
        page.identities.length,
        page.next_cursor,
      ),
    };
  },
};

export const identitiesShow: Command = {
  name: 'identities show',
  usage: 'identities show ID',
  summary: 'one identity with its attributes and grants',
  async run(r) {
    const v = await r.app.identity(positional(r.args, 2, 'ID: the identity'));
    const text = [
      `${v.id} (${v.kind}, ${v.status})${v.owner ? ` owner ${v.owner}` : ''}${v.manager ? ` manager ${v.manager}` : ''}`,
      `attributes: ${JSON.stringify(v.attributes)}`,
      ...(v.owns.length ? [`owns: ${v.owns.join(', ')}`] : []),
      formatGrants(v.grants),
      ...(v.grants_next_cursor
        ? [
            `(${v.grants.length} grants shown; more follow: gatehouse grants --identity ${v.id} --cursor ${v.grants_next_cursor})`,
          ]
        : []),
    ].join('\n');
    return { json: v, text };
  },
};
