import { positional } from '../args.js';
import type { Command } from '../command.js';
import { table } from '../format.js';

export const integrationsList: Command = {
  name: 'integrations list',
  usage: 'integrations list',
  summary: 'the ITSM integrations configured (integrations.yaml): type, inbound URL, identity',
  options: {},
  async run(r) {
    const list = await r.app.itsm.list();
    const rows = list.map((i) => ({
      name: i.name,
      type: i.type,
      inbound: i.inbound,
      identity: i.identity,
      'ticket closed': i.on_ticket_closed,
    }));
    return {
      json: { integrations: list },
      text:
        rows.length === 0
          ? 'no integrations (integrations.yaml)'
          : table(rows, ['name', 'type', 'inbound', 'identity', 'ticket closed']),
    };
  },
};

export const integrationsTest: Command = {
  name: 'integrations test',
  usage: 'integrations test NAME',
  summary: 'reaches the ITSM system with its credentials and says what works',
  options: {},
  async run(r) {
    const t = await r.app.itsm.test(positional(r.args, 2, 'NAME: the integration to test'));
    return {
      json: t,
      text: t.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}`).join('\n'),
      ...(t.ok ? {} : { exitCode: 1 }),
    };
  },
};
