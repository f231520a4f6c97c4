import { defined, page, route } from './route.js';
import * as s from './shapes.js';

/** `identities list` and `identities show`: each caller sees what core/authz.ts lets it see. */
export const IDENTITY_ROUTES = [
  route({
    method: 'GET',
    url: '/api/v1/identities',
    summary: 'identities the caller may see, by id, a page at a time',
    scopes: ['read', 'audit'],
    query: s.identitiesQuery,
    response: s.identityPage,
    handler: (c) =>
      c.app.identities(
        page(c.query),
        defined({ kind: c.query.kind, status: c.query.status }),
        c.reader,
      ),
  }),
  route({
    method: 'GET',
    url: '/api/v1/identities/:id',
    summary: 'one identity with its owner, attributes and the grants the caller may see',
    scopes: ['read', 'audit'],
    params: s.idParams,
    response: s.identityObject,
    handler: (c) => c.app.identity(c.params.id, c.reader),
  }),
];
