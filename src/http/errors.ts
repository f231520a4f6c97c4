import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError, RefusedError } from '../core/errors.js';
import type { RefusalAuditor } from './refusals.js';

/** API.md's error shape: one code to branch on, one line to show, the field where one input. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
  request_id: string;
}

export function errorBody(
  req: FastifyRequest,
  code: string,
  message: string,
  field?: string,
): ErrorBody {
  return {
    error: { code, message, ...(field === undefined ? {} : { field }) },
    request_id: String(req.id),
  };
}

const STATUS: Record<string, number> = {
  input: 400,
  not_found: 404,
  conflict: 409,
  refused: 403,
  locked: 503,
};

/** Fastify's own 4xx (the body parser, the router) under stable codes and fixed messages. */
const FASTIFY_4XX: Record<number, [string, string]> = {
  400: ['invalid_body', 'the body is not valid JSON'],
  413: ['body_too_large', 'the body is larger than this server accepts'],
  415: ['unsupported_media_type', 'send the body as application/json'],
};

/**
 * Every error leaves here: a Gatehouse error by its kind, Fastify's client errors by status, and
 * anything else as a 500 carrying only the request id; what went wrong goes to `internal`, the
 * server's log, never into the answer.
 */
export function errorHandler(
  internal: (requestId: string, error: unknown) => void,
  audit?: RefusalAuditor,
) {
  return async (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof GatehouseError) {
      const status = STATUS[err.kind];
      // A refusal by the core's rules: the route's input was valid (refusals follow validation).
      if (err instanceof RefusedError)
        await audit?.(req, { kind: 'refused', code: err.code, validated: true });
      if (status !== undefined)
        return reply.code(status).send(errorBody(req, err.code, err.message, err.field));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const [code, message] = FASTIFY_4XX[status] ?? ['bad_request', 'the request is malformed'];
      return reply.code(status).send(errorBody(req, code, message));
    }
    internal(String(req.id), err);
    return reply
      .code(500)
      .send(errorBody(req, 'internal', `internal error; quote request id ${String(req.id)}`));
  };
}
