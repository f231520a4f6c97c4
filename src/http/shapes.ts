import { z } from 'zod';

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
  waiting: z.looseObject({ requests: z.array(z.string()), next_cursor: cursor }),
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
