import type { FastifyRequest } from 'fastify';
import type { Gatehouse } from '../app/gatehouse.js';

/**
 * Every refused call is audited, here, once for all routes: a 401 from authentication and a 403
 * from a token's scope (auth.ts) or from the core's rules (errors.ts). The record is written by
 * the core in its own transaction; a failure to write it never turns the refusal into a 500 (the
 * caller is refused either way) but is reported like any internal error.
 */
export function refusalAuditor(
  app: Pick<Gatehouse, 'recordRefusal'>,
  internal: (requestId: string, error: unknown) => void,
) {
  return async (
    req: FastifyRequest,
    r: {
      kind: 'unauthenticated' | 'refused';
      code: string;
      actor?: string | undefined;
      token?: string | undefined;
      /** `ui` for a session cookie refused before it named a caller; else from the caller. */
      via?: 'api' | 'ui';
      /** The path's id, only once the route's schema has validated it. */
      validated?: boolean;
    },
  ): Promise<void> => {
    const id = r.validated ? (req.params as { id?: unknown } | undefined)?.id : undefined;
    try {
      await app.recordRefusal({
        actor: r.actor ?? req.caller?.identity ?? 'unauthenticated',
        kind: r.kind,
        code: r.code,
        // The route's pattern, never the raw path: an unvalidated path is not fit to store.
        operation: `${req.method} ${req.routeOptions.url ?? '(no route)'}`,
        subject: typeof id === 'string' ? id : undefined,
        token: r.token ?? req.caller?.tokenId,
        address: req.ip,
        via: r.via ?? (req.caller?.session ? 'ui' : 'api'),
      });
    } catch (e) {
      internal(String(req.id), e);
    }
  };
}

export type RefusalAuditor = ReturnType<typeof refusalAuditor>;
