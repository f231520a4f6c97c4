import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Gatehouse } from '../app/gatehouse.js';
import { InputError, RefusedError } from '../core/errors.js';
import { registerMetrics } from './metrics.js';

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The minimal read-only API that `serve` exposes until the HTTP API issue lands: health, report,
 * grants and requests, and the Prometheus metrics. Every call but the health check needs the
 * bearer token.
 */
export function buildServer(app: Gatehouse, token: string): FastifyInstance {
  const server = Fastify({ logger: false });
  server.addHook('onRequest', async (req, reply) => {
    if (req.url === '/healthz') return;
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Bearer ') || !sameToken(header.slice(7), token)) {
      await reply.code(401).send({ error: 'a bearer token is required (GATEHOUSE_API_TOKEN)' });
    }
  });
  server.setErrorHandler(async (err, _req, reply) => {
    if (err instanceof InputError) return reply.code(400).send({ error: err.message });
    if (err instanceof RefusedError) return reply.code(403).send({ error: err.message });
    return reply.code(500).send({ error: 'internal error' });
  });
  server.get('/healthz', async () => ({ ok: true }));
  server.get('/api/report', async () => app.report());
  type Page = { cursor?: string; limit?: string };
  server.get<{ Querystring: { identity?: string; app?: string; state?: string } & Page }>(
    '/api/grants',
    async (req) => {
      const { cursor, limit, identity, app: appId, state } = req.query;
      return app.grants({ identity, app: appId, state }, { cursor, limit });
    },
  );
  server.get<{ Querystring: { status?: string; approver?: string } & Page }>(
    '/api/requests',
    async (req) => {
      const { cursor, limit, status, approver } = req.query;
      return app.requests({ status, approver }, { cursor, limit });
    },
  );
  server.get<{ Params: { id: string } }>('/api/requests/:id', async (req) =>
    app.requestView(req.params.id),
  );
  registerMetrics(server, app);
  return server;
}
