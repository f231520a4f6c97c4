import { z } from 'zod';
import { SCOPES } from '../core/tokens/scopes.js';

/**
 * The JSON shapes of CLI.md, as the API answers them: the fields that must be there; more may be
 * added, so objects are open. Inputs are closed: a field the API does not know is refused.
 */
const instant = z.string().describe('an ISO 8601 instant');
const nullableInstant = instant.nullable();

export const requestObject = z.looseObject({
  id: z.string().nullable(),
  status: z.string(),
  entitlement: z.string(),
  beneficiary: z.string(),
  requester: z.string(),
  ticket: z.string().nullable().optional(),
  decision: z.looseObject({
    outcome: z.enum(['auto_approved', 'needs_approval', 'rejected']),
    reasons: z.array(
      z.looseObject({ code: z.string(), policy: z.string().optional(), message: z.string() }),
    ),
    role_fit: z.number(),
    decided_at: z.string(),
  }),
  approval: z.looseObject({
    stages: z.array(
      z.looseObject({ rule: z.string(), approvers: z.array(z.string()), state: z.string() }),
    ),
  }),
  grant: z
    .looseObject({ id: z.string(), state: z.string(), expires_at: nullableInstant })
    .nullable(),
});

export const grantObject = z.looseObject({
  id: z.string(),
  identity: z.string(),
  entitlement: z.string(),
  state: z.string(),
  granted_at: nullableInstant,
  expires_at: nullableInstant,
  trigger: z.string(),
  request: z.string().nullable(),
  verified_at: nullableInstant,
  revoked_at: nullableInstant,
});

const cursor = z.string().nullable().describe('where the next page starts; null on the last');
export const requestPage = z.looseObject({ requests: z.array(requestObject), next_cursor: cursor });
export const grantPage = z.looseObject({ grants: z.array(grantObject), next_cursor: cursor });

export const me = z.looseObject({
  identity: z.string(),
  kind: z.string(),
  status: z.string(),
  scopes: z.array(z.string()),
  token: z.string(),
  waiting: z.looseObject({
    requests: z.array(z.string()),
    next_cursor: cursor,
    review_items: z.array(z.string()).describe('undecided review items waiting on the caller'),
    review_items_next_cursor: cursor,
  }),
  // Only with a session cookie (docs/api.md, Sign-in).
  session: z.string().optional().describe('the session id (ses_…), with a session cookie'),
  csrf_token: z
    .string()
    .optional()
    .describe('send as X-CSRF-Token on every POST made with the session cookie'),
  expires_at: z.string().optional().describe('when the session ends'),
});

export const auditVerify = z.looseObject({ ok: z.boolean() });
export const auditTrace = z.looseObject({
  events: z.array(
    z.looseObject({
      seq: z.number(),
      at: z.string(),
      actor: z.string(),
      action: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  ),
});
export const report = z.looseObject({
  revocation_latency_seconds: z.looseObject({}),
  revocation_sla_breaches: z.number(),
  grants_without_expiry: z.number(),
  standing_privileged: z.number(),
  reviews: z.looseObject({
    open_items: z.number(),
    overdue_items: z.number(),
    completion: z.number().nullable().describe('share of review items decided; null while none'),
  }),
});

export const errorObject = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
  request_id: z.string(),
});

// Inputs.
// PostgreSQL text cannot hold NUL: refused here as bad input, not met in the store as a failure.
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');
export const id = z
  .string()
  .min(1)
  .max(200)
  .refine(
    (v) => [...v].every((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f),
    'must not contain control characters',
  );
export const idParams = z.strictObject({ id });
const pageQuery = { cursor: text(2000).optional(), limit: text(10).optional() };

export const requestBody = z.strictObject({
  entitlement: text(200).min(1),
  beneficiary: text(200).min(1),
  duration: text(20).optional().describe('8h, 30d … or "standing" where allowed'),
  reason: text(2000),
  ticket: text(200).nullable().optional(),
  emergency: z.boolean().optional(),
});
export const commentBody = z.strictObject({ comment: text(2000).optional() });
export const rejectBody = z.strictObject({ comment: text(2000).min(1) });
export const reasonBody = z.strictObject({ reason: text(2000).min(1) });
export const extendBody = z.strictObject({
  duration: text(20).optional(),
  reason: text(2000).min(1),
  ticket: text(200).nullable().optional(),
});
export const emptyBody = z.strictObject({});
export const requestsQuery = z.strictObject({
  status: text(40).optional(),
  approver: text(200).optional(),
  beneficiary: text(200).optional(),
  ...pageQuery,
});
export const grantsQuery = z.strictObject({
  identity: text(200).optional(),
  app: text(200).optional(),
  entitlement: text(200).optional(),
  state: text(40).optional(),
  expiring_within: text(20).optional(),
  ...pageQuery,
});
export const noQuery = z.strictObject({});

// The catalog, identities, the audit export and tokens (issue 8's remaining routes).
export const catalog = z.looseObject({
  apps: z.array(
    z.looseObject({
      id: z.string(),
      name: z.string(),
      risk: z.string(),
      owner: z.string(),
      licences: z.array(z.looseObject({ tier: z.string(), seats: z.number(), used: z.number() })),
      entitlements: z.array(
        z.looseObject({
          id: z.string(),
          risk: z.string(),
          privileged: z.boolean(),
          max_duration_seconds: z.number().nullable(),
          default_duration_seconds: z.number().nullable(),
          standing: z.boolean(),
          kinds: z.array(z.string()),
          requires_ticket: z.boolean(),
          break_glass: z.boolean(),
          licence_tier: z.string().nullable(),
        }),
      ),
    }),
  ),
});

export const identitySummary = z.looseObject({
  id: z.string(),
  kind: z.string(),
  status: z.string(),
  owner: z.string().nullable(),
  manager: z.string().nullable(),
  grants: z.number(),
});
export const identityPage = z.looseObject({
  identities: z.array(identitySummary),
  next_cursor: cursor,
});
export const identityObject = z.looseObject({
  id: z.string(),
  kind: z.string(),
  status: z.string(),
  owner: z.string().nullable(),
  attributes: z.record(z.string(), z.unknown()),
  grants: z.array(grantObject),
  grants_next_cursor: cursor,
});
export const identitiesQuery = z.strictObject({
  kind: text(40).optional(),
  status: text(40).optional(),
  ...pageQuery,
});

export const auditEvent = z.looseObject({
  seq: z.number(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  details: z.record(z.string(), z.unknown()),
  refs: z.array(z.string()),
  prev_hash: z.string(),
  hash: z.string(),
});
export const exportQuery = z.strictObject({
  since: text(40)
    .refine((v) => !Number.isNaN(new Date(v).getTime()), 'is not an ISO 8601 time')
    .optional()
    .describe('only events at or after this instant'),
});

export const tokenObject = z.looseObject({
  id: z.string(),
  identity: z.string(),
  scopes: z.array(z.string()),
  created_at: instant,
  expires_at: instant,
  revoked_at: nullableInstant,
  last_used_at: nullableInstant,
  created_by: z.string(),
});
export const tokenPage = z.looseObject({ tokens: z.array(tokenObject), next_cursor: cursor });
export const createdToken = z.looseObject({
  id: z.string(),
  token: z.string().describe('the secret: shown in this answer and never again'),
  identity: z.string(),
  scopes: z.array(z.string()),
  expires_at: instant,
});
export const issuedCredential = z.looseObject({
  credential: z.looseObject({
    id: z.string(),
    grant: z.string(),
    identity: z.string(),
    connector: z.string(),
    account: z.string(),
    state: z.string(),
    fingerprint: z.string().describe("the first 16 hex digits of the secret's SHA-256"),
    valid_until: instant,
    rotate_by: instant,
  }),
  secret: z.string().describe('the credential: shown in this answer and never again'),
});
export const tokenBody = z.strictObject({
  identity: text(200).min(1),
  scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
  expires: text(20).optional().describe('how long it lives: 30d, 12h …; 90d when absent'),
});
export const pageOnlyQuery = z.strictObject({ ...pageQuery });
