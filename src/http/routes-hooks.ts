import type { FastifyInstance } from 'fastify';
import type { Gatehouse } from '../app/gatehouse.js';
import { errorBody } from './errors.js';

/** Jira sends whole issues: larger than API calls, still bounded. */
export const HOOK_BODY_LIMIT = 256 * 1024;

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * POST /hooks/{integration}: tickets from ITSM systems (API.md "ITSM"). Thin: the body is kept as
 * the bytes received, since the signature is over them, and everything else is the core's
 * (core/itsm/use-cases.ts). Registered in its own scope so that only this route reads raw bodies.
 */
export async function registerHooks(
  server: FastifyInstance,
  app: Gatehouse,
  bodyLimit = HOOK_BODY_LIMIT,
): Promise<void> {
  await server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit },
      (_req, body, done) => done(null, body),
    );
    scope.post<{ Params: { integration: string } }>(
      '/hooks/:integration',
      { schema: { hide: true }, bodyLimit },
      async (req, reply) => {
        const integration = req.params.integration;
        if (!/^[a-z][a-z0-9-]{0,62}$/.test(integration))
          return reply
            .code(404)
            .send(errorBody(req, 'unknown_integration', `no integration "${integration}"`));
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const r = await app.itsm.hook({
          integration,
          raw,
          signature:
            header(req.headers['x-hub-signature']) ?? header(req.headers['x-gatehouse-signature']),
          authorization: header(req.headers.authorization),
          delivery: header(req.headers['x-atlassian-webhook-identifier']),
          address: req.ip,
        });
        if (r.status === 401)
          return reply
            .code(401)
            .send(errorBody(req, r.code, 'the delivery is not signed, or not by this integration'));
        if ('message' in r)
          return reply.code(r.status).send(errorBody(req, r.code, r.message, r.field));
        if (r.status === 202) return reply.code(202).send({ request: r.request });
        return reply.code(200).send({
          request: r.request,
          duplicate: r.duplicate,
          ...(r.revoked ? { revoked: r.revoked } : {}),
          ...(r.approval ? { approval: r.approval } : {}),
        });
      },
    );
  });
}
