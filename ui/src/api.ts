import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

/** An API error answer (docs/api.md, Errors): `field` names the input it is about. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

// The CSRF token lives in memory only (from GET /api/v1/me): nothing is stored in the browser
// beyond the HttpOnly session cookie, which the browser sends by itself.
let csrfToken: string | undefined;
export const setCsrfToken = (token: string | undefined) => {
  csrfToken = token;
};

const csrf: Middleware = {
  onRequest({ request }) {
    if (csrfToken && request.method !== 'GET') request.headers.set('X-CSRF-Token', csrfToken);
    return request;
  },
};

export const api = createClient<paths>({
  baseUrl: window.location.origin,
  credentials: 'same-origin',
});
api.use(csrf);

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The answer's data, or an ApiError carrying the error shape's code, message and field. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok && data !== undefined) return data;
  throw toError(response.status, error);
}

function toError(status: number, body: unknown): ApiError {
  const e = (body as { error?: { code?: string; message?: string; field?: string } } | undefined)
    ?.error;
  return new ApiError(
    status,
    e?.code ?? 'http_' + status,
    e?.message ?? `the server answered ${status}`,
    e?.field,
  );
}

/** The sign-in routes are a browser's, outside the OpenAPI document: plain fetch. */
export async function authCall<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    credentials: 'same-origin',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(csrfToken && body !== undefined ? { 'X-CSRF-Token': csrfToken } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json: unknown = await res.json().catch(() => undefined);
  if (!res.ok) throw toError(res.status, json);
  return json as T;
}

type Json<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': infer T } } };
}
  ? T
  : never;

export type Me = Json<'/api/v1/me', 'get'>;
export type Catalog = Json<'/api/v1/catalog', 'get'>;
export type RequestView = Json<'/api/v1/requests/{id}', 'get'>;
export type Grant = Json<'/api/v1/grants/{id}', 'get'>;
export type Report = Json<'/api/v1/report', 'get'>;
export type Trace = Json<'/api/v1/audit/trace/{id}', 'get'>;
export type Identity = Json<'/api/v1/identities', 'get'>['identities'][number];
export type RequestBody = NonNullable<
  paths['/api/v1/requests']['post']['requestBody']
>['content']['application/json'];
