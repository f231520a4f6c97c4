import { z } from 'zod';
import { parseInstant } from '../core/reviews/campaigns.js';
import { type ApiRoute, page, route } from './route.js';
import { id, idParams } from './shapes.js';

/**
 * Access reviews (docs/api.md, ADR 0023): the twins of `gatehouse review …`, as the token's
 * identity, via `api`. Administrators open and close campaigns; reviewers (scope `review`) decide
 * their items; a caller who does not read everything sees the campaigns and items they review.
 */
const instant = z.string().describe('an ISO 8601 instant');
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');
const date = text(40).describe('a date (2026-06-30) or an ISO 8601 instant');

export const itemObject = z.looseObject({
  id: z.string(),
  kind: z.string(),
  campaign: z.string().nullable(),
  grant: z.string().nullable(),
  identity: z.string(),
  entitlement: z.string().nullable(),
  reviewer: z.string().nullable(),
  reviewers: z.array(z.string()),
  routed: z.string().nullable().describe('why the item went elsewhere than the reviewer rule'),
  due: instant.nullable(),
  decision: z.enum(['certify', 'revoke']).nullable(),
  decided_by: z.string().nullable(),
  decided_at: instant.nullable(),
  applied: z.enum(['default']).nullable(),
  comment: z.string().nullable(),
  expires_at: instant.nullable(),
});
const campaignSummary = z.looseObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(['open', 'closed']),
  scope: z.string(),
  reviewer: z.string(),
  default: z.enum(['certify', 'revoke']),
  due: instant,
  closed_at: instant.nullable(),
  counts: z.looseObject({ items: z.number(), decided: z.number(), open: z.number() }),
});
export const campaignObject = campaignSummary.extend({
  items: z.array(itemObject).describe('one page of the items, in id order'),
  next_cursor: z
    .string()
    .nullable()
    .describe('where the next page of items starts; null on the last'),
});
const campaignPage = z.looseObject({
  campaigns: z.array(campaignSummary),
  next_cursor: z.string().nullable().describe('where the next page starts; null on the last'),
});
const listQuery = z.strictObject({
  cursor: text(2000).optional(),
  limit: text(10).optional(),
});
const itemsQuery = listQuery.extend({ reviewer: text(200).optional() });
const itemPage = z.looseObject({
  items: z.array(itemObject),
  next_cursor: z.string().nullable().describe('where the next page starts; null on the last'),
});
const createBody = z.strictObject({
  name: text(200).min(1),
  scope: text(1000).min(1).describe('comma-separated key=value terms: app=erp,risk=high'),
  due: date,
  reviewer: text(200).optional().describe('manager (default), app_owner, owner or group:NAME'),
  default: z.enum(['certify', 'revoke']).optional(),
});
const decideBody = z.strictObject({
  decision: z.enum(['certify', 'revoke']),
  expires: date.optional().describe("a certification's new expiry, within the maximum"),
  comment: text(2000).optional(),
});

export const REVIEW_ROUTES: ApiRoute[] = [
  route({
    method: 'GET',
    url: '/api/v1/reviews',
    summary:
      'access-review campaigns, newest first: those with items the caller reviews (all with the audit scope)',
    scopes: ['read', 'review', 'admin', 'audit'],
    query: listQuery,
    response: campaignPage,
    handler: (c) => c.app.reviews.list(page(c.query), c.reader),
  }),
  route({
    method: 'GET',
    url: '/api/v1/reviews/items',
    summary:
      'undecided review items, campaign and standalone, oldest first: those waiting on the caller (all, or one reviewer’s, with audit)',
    scopes: ['read', 'review', 'audit'],
    query: itemsQuery,
    response: itemPage,
    handler: (c) =>
      c.app.reviews.openItems(
        c.query.reviewer !== undefined ? { reviewer: c.query.reviewer } : {},
        page(c.query),
        c.reader,
      ),
  }),
  route({
    method: 'GET',
    url: '/api/v1/reviews/:id',
    summary:
      'one campaign with a page of its items in id order (only those the caller reviews, unless audit)',
    scopes: ['read', 'review', 'admin', 'audit'],
    params: idParams,
    query: listQuery,
    response: campaignObject,
    handler: (c) => c.app.reviews.show(c.params.id, page(c.query), c.reader),
  }),
  route({
    method: 'POST',
    url: '/api/v1/reviews',
    summary: 'open a campaign over the active grants in scope, each item with its reviewer',
    scopes: ['admin'],
    status: 201,
    body: createBody,
    response: campaignObject,
    handler: (c) =>
      c.app.reviews.create({
        name: c.body.name,
        scope: c.body.scope,
        due: parseInstant(c.body.due, 'due'),
        reviewer: c.body.reviewer,
        default: c.body.default,
        actor: c.caller.identity,
        via: 'api',
      }),
  }),
  route({
    method: 'POST',
    url: '/api/v1/reviews/items/:id/decide',
    summary:
      "a reviewer's decision on one of their items: certify (keep, optionally until a new expiry) or revoke",
    scopes: ['review'],
    params: z.strictObject({ id }),
    body: decideBody,
    response: itemObject,
    handler: (c) =>
      c.app.reviews.decide({
        itemId: c.params.id,
        actor: c.caller.identity,
        decision: c.body.decision,
        expires: c.body.expires === undefined ? undefined : parseInstant(c.body.expires, 'expires'),
        comment: c.body.comment ?? '',
        via: 'api',
      }),
  }),
  route({
    method: 'POST',
    url: '/api/v1/reviews/:id/close',
    summary: "apply the campaign's default to undecided items and close it",
    scopes: ['admin'],
    params: idParams,
    response: campaignObject,
    handler: (c) => c.app.reviews.close(c.params.id, c.caller.identity, 'api'),
  }),
];
