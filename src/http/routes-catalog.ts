import { route } from './route.js';
import * as s from './shapes.js';

/** What may be asked for: anyone with a token that acts may browse it. */
export const CATALOG_ROUTES = [
  route({
    method: 'GET',
    url: '/api/v1/catalog',
    summary: 'the applications with their entitlements, risk, licence pools and limits',
    scopes: ['read', 'request', 'approve', 'review', 'admin', 'audit'],
    response: s.catalog,
    handler: (c) => c.app.catalog(),
  }),
];
