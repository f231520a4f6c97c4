import { parseDuration } from '../core/duration.js';
import { page, route } from './route.js';
import * as s from './shapes.js';

/**
 * The twins of `token create|list|revoke`, for `admin`. A token made here carries no scope the
 * calling token lacks (core/authz.ts); its secret is in the 201 answer and nowhere else.
 */
export const TOKEN_ROUTES = [
  route({
    method: 'POST',
    url: '/api/v1/tokens',
    summary: 'make an API token for an identity; the secret is in this answer only',
    scopes: ['admin'],
    status: 201,
    body: s.tokenBody,
    response: s.createdToken,
    handler: (c) =>
      c.app.createToken(
        {
          identity: c.body.identity,
          scopes: c.body.scopes,
          expiresInSeconds:
            c.body.expires === undefined ? undefined : parseDuration(c.body.expires, 'expires'),
          actor: c.caller.identity,
          via: c.via,
        },
        c.caller.scopes,
      ),
  }),
  route({
    method: 'GET',
    url: '/api/v1/tokens',
    summary: 'API tokens in the order they were made, never their secrets',
    scopes: ['admin'],
    query: s.pageOnlyQuery,
    response: s.tokenPage,
    handler: (c) => c.app.tokens(page(c.query)),
  }),
  route({
    method: 'POST',
    url: '/api/v1/tokens/:id/revoke',
    summary: 'revoke a token at once',
    scopes: ['admin'],
    params: s.idParams,
    body: s.emptyBody,
    response: s.tokenObject,
    handler: (c) => c.app.revokeToken(c.params.id, c.caller.identity, c.via),
  }),
];
