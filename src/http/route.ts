import type { z } from 'zod';
import type { Gatehouse } from '../app/gatehouse.js';
import type { Reader } from '../core/authz.js';
import type { Caller } from '../core/tokens/authenticate.js';
import type { Scope } from '../core/tokens/scopes.js';

export interface Ctx<P, Q, B> {
  app: Gatehouse;
  caller: Caller;
  /** How the caller came in: `ui` with a person's session cookie, `api` with a token. */
  via: 'api' | 'ui';
  /** The caller as a reader: everything with the `audit` scope, else what core/authz.ts allows. */
  reader: Reader;
  params: P;
  query: Q;
  body: B;
}

/** One API route: its schemas (declared once, here), the scopes any of which admit it, its use case. */
export interface ApiRoute {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  scopes: readonly Scope[];
  status: 200 | 201;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  /**
   * The answer's media type where it is not one JSON document: `application/x-ndjson` for a
   * stream of JSON lines, whose handler returns a Readable and whose `response` is one line.
   */
  contentType?: string;
  handler(ctx: Ctx<unknown, unknown, unknown>): Promise<unknown>;
}

export function route<
  P extends z.ZodType = z.ZodType<Record<string, never>>,
  Q extends z.ZodType = z.ZodType<Record<string, never>>,
  B extends z.ZodType = z.ZodType<Record<string, never>>,
>(r: {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  scopes: readonly Scope[];
  status?: 200 | 201;
  params?: P;
  query?: Q;
  body?: B;
  response: z.ZodType;
  contentType?: string;
  handler(ctx: Ctx<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
}): ApiRoute {
  return { status: 200, ...r } as ApiRoute;
}

export const page = (q: { cursor?: string | undefined; limit?: string | undefined }) => ({
  ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
  ...(q.limit !== undefined ? { limit: q.limit } : {}),
});

export const defined = <T extends Record<string, unknown>>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
