import { route } from './route.js';
import * as s from './shapes.js';

/** The requester's (or beneficiary's) twin of approve and reject: `gatehouse cancel`. */
export const CANCEL_ROUTES = [
  route({
    method: 'POST',
    url: '/api/v1/requests/:id/cancel',
    summary: 'withdraw a pending request, as its requester or its beneficiary',
    scopes: ['request'],
    params: s.idParams,
    body: s.commentBody,
    response: s.requestObject,
    handler: (c) => c.app.cancel(c.params.id, c.caller.identity, c.body.comment ?? '', c.via),
  }),
];
