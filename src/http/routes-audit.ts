import { Readable } from 'node:stream';
import { route } from './route.js';
import * as s from './shapes.js';

/** `audit export`: the log streamed as JSON lines, read a page at a time as the client pulls. */
export const AUDIT_ROUTES = [
  route({
    method: 'GET',
    url: '/api/v1/audit/export',
    summary: 'every audit event (at or after since) as JSON lines, in order, streamed',
    scopes: ['audit'],
    query: s.exportQuery,
    response: s.auditEvent,
    contentType: 'application/x-ndjson',
    handler: async (c) => {
      const lines = c.app.auditLines(c.query.since ? new Date(c.query.since) : undefined);
      return Readable.from(
        (async function* () {
          for await (const line of lines) yield `${line}\n`;
        })(),
      );
    },
  }),
];
