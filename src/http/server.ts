import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyInstance,
  LogController,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Gatehouse } from '../app/gatehouse.js';
import { requireScopes } from './auth.js';
import { errorBody, errorHandler } from './errors.js';
import {
  DEFAULT_RATE_LIMITS,
  type RateLimits,
  metricsGuard,
  registerHardening,
} from './hardening.js';
import { type LogOptions, loggerOptions } from './logging.js';
import { registerMetrics } from './metrics.js';
import { refusalAuditor } from './refusals.js';
import { type CliChannel, registerCliChannel } from './cli-channel.js';
import { type SignInOptions, registerSignIn } from './oidc.js';
import { registerUi } from './ui.js';
import { API_ROUTES } from './routes.js';
import { registerHooks } from './routes-hooks.js';
import { errorObject, noQuery } from './shapes.js';
import { type JsonSchema, jsonSchema, zodValidator } from './schema.js';

export interface ServerOptions {
  /** The schema version this build migrates to: `/readyz` is ready only at that version. */
  schemaVersion: number;
  /** Largest request body accepted, in bytes (413 beyond). */
  bodyLimit?: number;
  /** Where a 500's cause goes (the answer carries only the request id). */
  onInternalError?: (requestId: string, error: unknown) => void;
  /** The local command channel, when this process holds an embedded store (cli-channel.ts). */
  cliChannel?: CliChannel;
  /** People's sign-in (oidc.ts): the environment holding the client secret, the cookie flags. */
  signIn?: SignInOptions;
  /** The request log (pino JSON lines, secrets redacted: logging.ts); none when absent. */
  log?: LogOptions;
  /** Rate limits per window (hardening.ts); the defaults when absent. */
  rateLimits?: Partial<RateLimits>;
  /** Addresses and CIDR blocks that may read /metrics without a token. */
  metricsAllow?: readonly string[];
  /** The built web UI (ui.ts); dist/ui when absent. */
  uiDir?: string;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;

const routesOf = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** Every route the server registered, as `onRoute` saw it: what the OpenAPI test compares. */
export const registeredRoutes = (server: FastifyInstance) => routesOf.get(server) ?? [];

/**
 * The HTTP API of API.md. Each route's schemas are declared once (routes.ts, zod): they validate
 * the request, and the OpenAPI 3.1 document at /api/openapi.json is generated from them.
 */
export async function buildServer(app: Gatehouse, opts: ServerOptions): Promise<FastifyInstance> {
  const internal =
    opts.onInternalError ??
    ((id: string, e: unknown) =>
      process.stderr.write(`request ${id} failed: ${(e as Error).stack ?? e}\n`));
  const audit = refusalAuditor(app, internal);
  const server = Fastify({
    logger: opts.log ? loggerOptions(opts.log) : false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    // A path the router itself refuses (bad encoding, an overlong id) answers like any bad input.
    frameworkErrors: (err, req, reply) => {
      void (reply as FastifyReply)
        .code(400)
        .send(
          errorBody(req as FastifyRequest, 'invalid_path', `the path is not valid: ${err.code}`),
        );
    },
  });
  const routes: { method: string; url: string }[] = [];
  routesOf.set(server, routes);
  server.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  server.decorateRequest('caller', null);
  server.decorateRequest('presented', null);
  server.setValidatorCompiler<JsonSchema>(zodValidator);
  // Answers are built by the use cases in CLI.md's shapes; the response schemas document them
  // (and the tests check answers against them) but never silently drop a field on the way out.
  server.setSerializerCompiler(() => (data) => JSON.stringify(data));
  server.setErrorHandler(errorHandler(internal, audit));
  await registerHardening(
    server,
    { ...DEFAULT_RATE_LIMITS, ...opts.rateLimits },
    {
      count: (keys, windowMs) => app.rateWindows.count(keys, windowMs),
      admit: (keys, windowMs, token) => app.rateWindows.admit(keys, windowMs, token),
      forgetEnded: (windowMs) => app.rateWindows.forgetEnded(windowMs),
    },
    (e) => internal('rate-windows', e),
  );
  server.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send(errorBody(req, 'not_found', `no route ${req.method} ${req.url}`)),
  );
  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Gatehouse API', version: 'v1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
    },
  });

  const errorResponse = jsonSchema(errorObject, 'output');
  const errorResponses = Object.fromEntries(
    [400, 401, 403, 404, 409, 413, 429].map((s) => [s, errorResponse]),
  );
  for (const r of API_ROUTES) {
    server.route({
      method: r.method,
      url: r.url,
      schema: {
        summary: r.summary,
        description: `Scopes: ${r.scopes.join(' or ')}.`,
        security: [{ bearer: [] }],
        querystring: jsonSchema(r.query ?? noQuery),
        ...(r.params ? { params: jsonSchema(r.params) } : {}),
        ...(r.body ? { body: jsonSchema(r.body) } : {}),
        response: {
          [r.status]: r.contentType
            ? { content: { [r.contentType]: { schema: jsonSchema(r.response, 'output') } } }
            : jsonSchema(r.response, 'output'),
          ...errorResponses,
        },
      },
      onRequest: requireScopes(app, r.scopes, audit),
      // A POST sent without a body is an empty object (API.md: `let-expire` takes none), so a
      // missing required field is named rather than the whole body refused.
      ...(r.body
        ? {
            preValidation: async (req: FastifyRequest) => {
              // Only when nothing was sent: a JSON `null` is still refused.
              const sent = req.headers['content-type'] ?? req.headers['transfer-encoding'];
              if (req.body == null && sent === undefined && !Number(req.headers['content-length']))
                req.body = {};
            },
          }
        : {}),
      handler: async (req, reply) => {
        const caller = req.caller!;
        const result = await r.handler({
          app,
          caller,
          via: caller.session ? 'ui' : 'api',
          reader: { id: caller.identity, readsAll: caller.scopes.includes('audit') },
          params: req.params,
          query: req.query,
          body: req.body,
        });
        if (r.contentType) void reply.type(r.contentType);
        return reply.code(r.status).send(result);
      },
    });
  }

  server.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  server.get('/readyz', { schema: { hide: true } }, async (req, reply) => {
    let version: number;
    try {
      version = await app.schemaVersion();
    } catch {
      return reply.code(503).send(errorBody(req, 'store_unavailable', 'the store does not answer'));
    }
    if (version !== opts.schemaVersion)
      return reply
        .code(503)
        .send(
          errorBody(
            req,
            'schema_not_current',
            `the store's schema is version ${version}; this server needs ${opts.schemaVersion}`,
          ),
        );
    return { ok: true, schema: version };
  });
  server.get('/api/openapi.json', { schema: { hide: true } }, async () => server.swagger());
  registerMetrics(
    server,
    app,
    metricsGuard(opts.metricsAllow ?? [], requireScopes(app, ['metrics'], audit)),
  );
  await registerHooks(server, app);
  if (opts.cliChannel) registerCliChannel(server, opts.cliChannel, audit);
  registerSignIn(server, app, { onError: opts.onInternalError, ...opts.signIn });
  await registerUi(server, opts.uiDir);
  return server;
}
