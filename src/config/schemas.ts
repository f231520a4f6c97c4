import { z } from 'zod';
import { IDENTITY_KINDS, RISK_TIERS } from '../core/model.js';
import { CONNECTOR_TYPES } from '../connectors/modules.js';
import { chain, duration, fields, listOf, name } from './schema-kit.js';

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** https, or plain http to this machine (a provider started by a test): never http over a network. */
function checkIssuer(v: string, ctx: z.RefinementCtx): void {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a URL` });
    return;
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))) return;
  ctx.addIssue({
    code: 'custom',
    message: 'the issuer must be an https URL (plain http only for a provider on this machine)',
  });
}

function checkRedirect(v: string, ctx: z.RefinementCtx): void {
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    /* reported below */
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash)
    ctx.addIssue({
      code: 'custom',
      message:
        'expected the URL of /auth/callback, such as https://gatehouse.acme.test/auth/callback',
    });
}

/** The shape of each YAML file as written (snake_case); meaning and cross-file checks come later. */

export const settingsFile = fields({
  approval: fields({
    timeout: duration.optional(),
    fallback_group: name.optional(),
    authenticated_only: z.boolean().optional(),
    chains: fields({
      low: chain.optional(),
      medium: chain.optional(),
      high: chain.optional(),
      critical: chain.optional(),
    }).optional(),
  }).optional(),
  emergency: fields({
    max_duration: duration.optional(),
    review_within: duration.optional(),
  }).optional(),
  revocation_sla: duration.optional(),
  mover: z.enum(['revoke', 'review']).optional(),
  expiry_reminders: z.array(duration).optional(),
  oidc: fields({
    issuer: z.string().superRefine(checkIssuer),
    client_id: z.string().min(1),
    client_secret: z
      .string()
      .regex(
        /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/,
        'must be a reference such as ${OIDC_CLIENT_SECRET}, resolved from the environment; never a literal secret',
      ),
    identity_claim: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.:-]*$/, 'expected a claim name such as email or sub'),
    redirect_uri: z.string().superRefine(checkRedirect).optional(),
  }).optional(),
  sessions: fields({
    lifetime: duration.optional(),
    scopes: fields({
      audit: z.array(name).optional(),
      admin: z.array(name).optional(),
    }).optional(),
  }).optional(),
  notifications: fields({
    email: fields({
      smtp_url: name,
      from: name,
      address_attribute: name.optional(),
    }).optional(),
    chat: fields({ webhook_url: name }).optional(),
    digest: duration.optional(),
  }).optional(),
  secrets: fields({
    env_allow: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z_*][A-Za-z0-9_*]*$/,
            'expected an environment variable name, * standing for any characters (PG_TARGET_*)',
          ),
      )
      .optional(),
  }).optional(),
});
export type SettingsFile = z.output<typeof settingsFile>;

export const reviewsFile = listOf(
  fields({
    name,
    scope: name,
    every: duration,
    due_in: duration,
    reviewer: name.default('manager'),
    default: z.enum(['certify', 'revoke']).default('revoke'),
  }),
);

export const groupsFile = listOf(fields({ id: name, members: z.array(name).default([]) }));

const entitlement = fields({
  id: name,
  risk: z.enum(RISK_TIERS).optional(),
  privileged: z.boolean().default(false),
  max_duration: duration.optional(),
  default_duration: duration.optional(),
  standing: z.boolean().default(false),
  kinds: z.array(z.enum(IDENTITY_KINDS)).min(1).default(['human']),
  requires_ticket: z.boolean().default(false),
  break_glass: z.boolean().default(false),
  approval: chain.optional(),
  licence_tier: name.optional(),
  target: z.record(z.string(), z.string()),
  /** The connector issues a credential for the holder's account, rotated this often (ADR 0025). */
  credential: fields({ rotation: duration }).optional(),
});
export type EntitlementYaml = z.output<typeof entitlement>;

export const appFile = fields({
  id: name,
  name: name.optional(),
  risk: z.enum(RISK_TIERS),
  owner: name,
  connector: name,
  licence: fields({ seats: z.record(z.string(), z.number().int().min(0)) }).optional(),
  entitlements: z.array(entitlement).default([]),
});
export type AppFile = z.output<typeof appFile>;

export const sodFile = listOf(
  fields({
    id: name,
    description: z.string().default(''),
    conflict: z
      .array(z.array(name).min(1, 'a conflict set needs at least one entitlement'))
      .min(2, 'a conflict needs at least two sets of entitlements'),
    on_conflict: z.enum(['block', 'require_exception']).default('block'),
    exception: fields({ approvers: chain, max_duration: duration }).optional(),
  }),
);
export type SodFile = z.output<typeof sodFile>;

/** Attribute values compare as text (CSV cells are text), so `remote: true` means "true". */
const attributeValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

export const birthrightFile = listOf(
  fields({
    when: z.record(z.string(), attributeValue),
    grant: z.array(name).min(1),
    duration: duration.optional(),
    standing: z.boolean().default(false),
  }),
);
export type BirthrightFile = z.output<typeof birthrightFile>;

const remedy = z.enum(['report', 'remediate']);

/** Remediation mode per reconciliation finding; only unmanaged access can be adopted. */
const reconcile = fields({
  every: duration.optional(),
  unmanaged: z.enum(['report', 'remediate', 'adopt']).optional(),
  missing: remedy.optional(),
  revocation_failed: remedy.optional(),
  orphaned: remedy.optional(),
});

/**
 * The keys every connector type shares. The others belong to the type: its module's settings
 * schema checks them (src/config/connectors.ts); here they are kept verbatim.
 */
export const connectorsFile = listOf(
  z
    .object({
      name,
      type: z.enum(CONNECTOR_TYPES),
      reconcile: reconcile.optional(),
      account_attribute: name.optional(),
    })
    .catchall(z.unknown()),
);
export type ConnectorsFile = z.output<typeof connectorsFile>;
