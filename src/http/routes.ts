import type { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { type ApiRoute, type Ctx, defined, page, route } from './route.js';
import { AUDIT_ROUTES } from './routes-audit.js';
import { CATALOG_ROUTES } from './routes-catalog.js';
import { IDENTITY_ROUTES } from './routes-identities.js';
import { CANCEL_ROUTES } from './routes-requests.js';
import { TOKEN_ROUTES } from './routes-tokens.js';
import * as s from './shapes.js';
import { TASK_ROUTES } from './routes-tasks.js';
import { RECONCILE_ROUTES } from './routes-reconcile.js';
import { REVIEW_ROUTES } from './routes-reviews.js';

export { type ApiRoute, type Ctx, defined, page, route } from './route.js';

/** `8h`, `30d`, or `standing` for access without expiry where the entitlement allows it. */
const duration = (v: string | undefined): number | null | undefined =>
  v === undefined ? undefined : v === 'standing' ? null : parseDuration(v, 'duration');

const READ = ['read', 'audit'] as const;

type RequestBody = z.output<typeof s.requestBody>;
const requestInput = (c: Ctx<unknown, unknown, RequestBody>) => ({
  requester: c.caller.identity,
  via: c.via,
  beneficiary: c.body.beneficiary,
  entitlement: c.body.entitlement,
  justification: c.body.reason,
  duration: duration(c.body.duration),
  ticket: c.body.ticket ?? null,
  emergency: c.body.emergency === true,
});

/** API.md's routes. Every one calls a use case as the caller's identity, via `api` or `ui`. */
export const API_ROUTES: ApiRoute[] = [
  route({
    method: 'GET',
    url: '/api/v1/me',
    summary: 'the calling identity, its scopes, and the requests waiting on it',
    scopes: ['read', 'request', 'approve', 'review', 'admin', 'audit'],
    response: s.me,
    async handler(c) {
      const who = await c.app.identity(c.caller.identity);
      const waiting = await c.app.requestIds(
        { approver: c.caller.identity },
        { limit: 100 },
        c.reader,
      );
      const items = await c.app.reviews.openItems(
        { reviewer: c.caller.identity },
        { limit: 100 },
        c.reader,
      );
      return {
        identity: who.id,
        kind: who.kind,
        status: who.status,
        scopes: c.caller.scopes,
        token: c.caller.tokenId,
        // A signed-in person's session: the CSRF token its state-changing calls must carry.
        ...(c.caller.session
          ? {
              session: c.caller.session.id,
              csrf_token: c.caller.session.csrfToken,
              expires_at: c.caller.session.expiresAt,
            }
          : {}),
        waiting: {
          requests: waiting.ids,
          next_cursor: waiting.next_cursor,
          review_items: items.items.map((i) => i.id),
          review_items_next_cursor: items.next_cursor,
        },
      };
    },
  }),
  route({
    method: 'POST',
    url: '/api/v1/requests',
    summary: 'submit a request as the calling identity; answered with its decision',
    scopes: ['request'],
    status: 201,
    body: s.requestBody,
    response: s.requestObject,
    handler: (c) => c.app.request(requestInput(c)),
  }),
  route({
    method: 'POST',
    url: '/api/v1/explain',
    summary: 'what a request would be decided, and why; nothing is written',
    scopes: ['request', 'read'],
    body: s.requestBody,
    response: s.requestObject,
    handler: (c) => c.app.explain(requestInput(c)),
  }),
  route({
    method: 'GET',
    url: '/api/v1/requests',
    summary: 'requests the caller may see, oldest first, a page at a time',
    scopes: READ,
    query: s.requestsQuery,
    response: s.requestPage,
    handler: (c) =>
      c.app.requests(
        defined({
          status: c.query.status,
          approver: c.query.approver,
          beneficiary: c.query.beneficiary,
        }),
        page(c.query),
        c.reader,
      ),
  }),
  route({
    method: 'GET',
    url: '/api/v1/requests/:id',
    summary: 'one request',
    scopes: READ,
    params: s.idParams,
    response: s.requestObject,
    handler: (c) => c.app.requestView(c.params.id, c.reader),
  }),
  route({
    method: 'POST',
    url: '/api/v1/requests/:id/approve',
    summary: "approve the request's current stage as the calling identity",
    scopes: ['approve'],
    params: s.idParams,
    body: s.commentBody,
    response: s.requestObject,
    handler: (c) =>
      c.app.act(c.params.id, c.caller.identity, 'approve', c.body.comment ?? '', c.via),
  }),
  route({
    method: 'POST',
    url: '/api/v1/requests/:id/reject',
    summary: 'reject the request as the calling identity',
    scopes: ['approve'],
    params: s.idParams,
    body: s.rejectBody,
    response: s.requestObject,
    handler: (c) => c.app.act(c.params.id, c.caller.identity, 'reject', c.body.comment, c.via),
  }),
  route({
    method: 'GET',
    url: '/api/v1/grants',
    summary:
      'grants the caller may see, a page at a time (soonest expiry first with expiring_within)',
    scopes: READ,
    query: s.grantsQuery,
    response: s.grantPage,
    handler: (c) =>
      c.app.grants(
        defined({
          identity: c.query.identity,
          app: c.query.app,
          entitlement: c.query.entitlement,
          state: c.query.state,
          expiringWithin:
            c.query.expiring_within === undefined
              ? undefined
              : parseDuration(c.query.expiring_within, 'expiring_within'),
        }),
        page(c.query),
        c.reader,
      ),
  }),
  route({
    method: 'GET',
    url: '/api/v1/grants/:id',
    summary: 'one grant',
    scopes: READ,
    params: s.idParams,
    response: s.grantObject,
    handler: (c) => c.app.grant(c.params.id, c.reader),
  }),
  route({
    method: 'POST',
    url: '/api/v1/grants/:id/revoke',
    summary: 'revoke now; removal is verified in the target afterwards',
    scopes: ['request', 'approve', 'admin'],
    params: s.idParams,
    body: s.reasonBody,
    response: s.grantObject,
    handler: (c) => c.app.revoke(c.params.id, c.caller.identity, c.body.reason, c.via),
  }),
  route({
    method: 'POST',
    url: '/api/v1/grants/:id/extend',
    summary: 'request more time on a held grant, decided like any request',
    scopes: ['request'],
    status: 201,
    params: s.idParams,
    body: s.extendBody,
    response: s.requestObject,
    handler: (c) =>
      c.app.extend({
        requester: c.caller.identity,
        via: c.via,
        grant: c.params.id,
        justification: c.body.reason,
        ...(c.body.duration !== undefined
          ? { duration: parseDuration(c.body.duration, 'duration') }
          : {}),
        ticket: c.body.ticket ?? null,
      }),
  }),
  route({
    method: 'POST',
    url: '/api/v1/grants/:id/let-expire',
    summary: 'answer an expiry reminder: no more reminders, the grant expires as planned',
    scopes: ['request'],
    params: s.idParams,
    body: s.emptyBody,
    response: s.grantObject,
    handler: (c) => c.app.letExpire(c.params.id, c.caller.identity, c.via),
  }),
  route({
    method: 'POST',
    url: '/api/v1/grants/:id/retry',
    summary: 're-queue the apply of a failed grant',
    scopes: ['request'],
    params: s.idParams,
    body: s.emptyBody,
    response: s.grantObject,
    handler: (c) => c.app.retry(c.params.id, c.caller.identity, c.via),
  }),
  route({
    method: 'POST',
    url: '/api/v1/grants/:id/credential',
    summary:
      "issue a new credential for a non-human identity's account, for its owner; the secret is in this answer only",
    scopes: ['request'],
    status: 201,
    params: s.idParams,
    body: s.emptyBody,
    response: s.issuedCredential,
    handler: (c) => c.app.issueCredential(c.params.id, c.caller.identity, 'api'),
  }),
  route({
    method: 'GET',
    url: '/api/v1/report',
    summary: 'the governance and service figures, as `report --json`',
    scopes: ['audit'],
    response: s.report,
    handler: (c) => c.app.report(),
  }),
  route({
    method: 'GET',
    url: '/api/v1/audit/verify',
    summary: 'recompute the audit hash chain and give its head',
    scopes: ['audit'],
    response: s.auditVerify,
    handler: (c) => c.app.auditVerify(),
  }),
  route({
    method: 'GET',
    url: '/api/v1/audit/trace/:id',
    summary: 'the audit events of a request or grant, in order',
    scopes: ['audit'],
    params: s.idParams,
    response: s.auditTrace,
    handler: async (c) => ({ events: await c.app.auditTrace(c.params.id) }),
  }),
  ...TASK_ROUTES,
  ...RECONCILE_ROUTES,
  ...REVIEW_ROUTES,
  ...CATALOG_ROUTES,
  ...CANCEL_ROUTES,
  ...IDENTITY_ROUTES,
  ...AUDIT_ROUTES,
  ...TOKEN_ROUTES,
];
