import { z } from 'zod';
import type { ApiRoute, Ctx } from './routes.js';
import { id, idParams } from './shapes.js';

/**
 * The fulfilment tasks of manual connectors (docs/api.md, ADR 0018): the open tasks the caller
 * may fulfil, and the fulfiller's attestation. The same use cases as `gatehouse tasks` and
 * `gatehouse fulfil`, as the token's identity, via `api`.
 */
const instant = z.string().describe('an ISO 8601 instant');
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');

export const taskObject = z.looseObject({
  id: z.string(),
  grant: z.string(),
  identity: z.string(),
  entitlement: z.string(),
  op: z.enum(['apply', 'revoke']),
  connector: z.string(),
  fulfillers: z.string(),
  account: z.string(),
  target: z.record(z.string(), z.string()),
  instructions: z.string().nullable(),
  state: z.string(),
  opened_at: instant,
  due_at: instant,
  overdue: z.boolean(),
  closed_at: instant.nullable(),
  closed_by: z.string().nullable(),
  comment: z.string().nullable(),
});
const taskPage = z.looseObject({
  tasks: z.array(taskObject),
  next_cursor: z.string().nullable().describe('where the next page starts; null on the last'),
});
const tasksQuery = z.strictObject({
  state: text(20).optional(),
  overdue: z.enum(['true', 'false']).optional(),
  grant: id.optional(),
  cursor: text(2000).optional(),
  limit: text(10).optional(),
});
const fulfilBody = z.strictObject({
  outcome: z.enum(['done', 'failed']),
  comment: text(2000).optional(),
});

function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(r: {
  method: 'GET' | 'POST';
  url: string;
  summary: string;
  scopes: ApiRoute['scopes'];
  params?: P;
  query?: Q;
  body?: B;
  response: z.ZodType;
  handler(ctx: Ctx<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
}): ApiRoute {
  return { status: 200, ...r } as ApiRoute;
}

export const TASK_ROUTES: ApiRoute[] = [
  route({
    method: 'GET',
    url: '/api/v1/tasks',
    summary:
      'fulfilment tasks the caller may fulfil (all with the audit scope), soonest due first; open by default',
    scopes: ['read', 'approve', 'audit'],
    query: tasksQuery,
    response: taskPage,
    handler: (c) =>
      c.app.tasks(
        {
          ...(c.query.state !== undefined ? { state: c.query.state } : {}),
          ...(c.query.overdue === 'true' ? { overdue: true } : {}),
          ...(c.query.grant !== undefined ? { grant: c.query.grant } : {}),
        },
        {
          ...(c.query.cursor !== undefined ? { cursor: c.query.cursor } : {}),
          ...(c.query.limit !== undefined ? { limit: c.query.limit } : {}),
        },
        c.reader,
      ),
  }),
  route({
    method: 'POST',
    url: '/api/v1/tasks/:id/fulfil',
    summary:
      "a fulfiller's attestation: done (the grant is active, or revoked) or failed (with a comment)",
    scopes: ['approve', 'admin'],
    params: idParams,
    body: fulfilBody,
    response: taskObject,
    handler: (c) =>
      c.app.fulfil(c.params.id, c.caller.identity, c.body.outcome, c.body.comment ?? '', c.via),
  }),
];
