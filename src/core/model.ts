/** The Gatehouse model (PRODUCT.md section 2), as the core sees it. */

export const IDENTITY_KINDS = [
  'human',
  'service_account',
  'api_key',
  'workload',
  'ai_agent',
] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];
export const IDENTITY_STATUSES = ['active', 'suspended', 'terminated'] as const;
export type IdentityStatus = (typeof IDENTITY_STATUSES)[number];
export const RISK_TIERS = ['low', 'medium', 'high', 'critical'] as const;
export type RiskTier = (typeof RISK_TIERS)[number];

/** Cedar sees risk as a number 1–4 so policies can compare tiers. */
export function riskLevel(tier: RiskTier): number {
  return RISK_TIERS.indexOf(tier) + 1;
}

export interface Identity {
  id: string;
  kind: IdentityKind;
  status: IdentityStatus;
  displayName: string;
  department: string;
  title: string;
  manager: string;
  /** Accountable human for a non-human identity; '' for people. */
  owner: string;
  /** Free-form attributes (location, employment_type, and any extra CSV column). */
  attributes: Record<string, string>;
}

export interface Group {
  id: string;
  members: string[];
}

/** One approval stage rule: manager, owner, app_owner, group:NAME or identity:ID. */
export interface StageRule {
  rule: string;
  minApprovals: number;
}

export interface App {
  id: string;
  name: string;
  risk: RiskTier;
  owner: string;
  connector: string;
  /** Seats per licence tier. */
  licenceSeats: Record<string, number>;
}

export interface Entitlement {
  id: string;
  app: string;
  risk: RiskTier;
  privileged: boolean;
  /** Seconds; null means no cap beyond the default. */
  maxDuration: number | null;
  defaultDuration: number | null;
  /** May be held without expiry. */
  standing: boolean;
  kinds: IdentityKind[];
  requiresTicket: boolean;
  breakGlass: boolean;
  /** Overrides the tier chain when set. */
  approval: StageRule[] | null;
  licenceTier: string | null;
  target: Record<string, string>;
  /**
   * Seconds a credential issued for the holder's account stays valid before it must be rotated;
   * null: this entitlement issues none (ADR 0025).
   */
  credentialRotation: number | null;
}

export type SodAction = 'block' | 'require_exception';

export interface SodRule {
  id: string;
  description: string;
  conflict: string[][];
  onConflict: SodAction;
  exception: { approvers: StageRule[]; maxDuration: number } | null;
}

export interface BirthrightRule {
  /** Position in birthright.yaml; rules have no id of their own. */
  index: number;
  when: Record<string, string>;
  grant: string[];
  duration: number | null;
  standing: boolean;
}

export interface Policy {
  id: string;
  text: string;
  reason: string | null;
  file: string;
  line: number;
}

export interface ConnectorConfig {
  name: string;
  type: string;
  /** Config as written, with ${ENV} references unresolved: secrets never reach the store. */
  settings: Record<string, unknown>;
}

export interface Settings {
  approvalTimeout: number;
  fallbackGroup: string;
  chains: Record<RiskTier, StageRule[]>;
  emergencyMaxDuration: number;
  emergencyReviewWithin: number;
  revocationSla: number;
  mover: 'revoke' | 'review';
  /** Seconds before `expires_at` at which holders and owners are reminded, largest first; empty: never. */
  expiryReminders: number[];
  /**
   * Approvals only through authenticated channels (the API, ITSM): the command line, where
   * the operator says on whose behalf they act, is refused.
   */
  authenticatedOnly: boolean;
  /** How notifications are delivered (gatehouse.yaml `notifications:`); absent: no channel. */
  notifications?: NotificationSettings;
  /** reviews.yaml: access-review campaigns the runtime opens on their cadence. */
  reviews?: RecurringReview[];
  /** gatehouse.yaml's `oidc:`: how people sign in (ADR 0015); absent, nobody signs in with OIDC. */
  oidc?: OidcSettings;
  /** gatehouse.yaml's `sessions:`: how long a signed-in session lives and who gets more scopes. */
  sessions?: SessionSettings;
  /** integrations.yaml: ITSM systems a ticket may come from and be written back to; absent, none. */
  integrations?: IntegrationConfig[];
}

export type IntegrationType = 'jira' | 'servicenow';

/** The request fields an integration reads from a ticket: dotted paths into it. */
export interface IntegrationFields {
  entitlement: string;
  beneficiary?: string;
  requester?: string;
  duration?: string;
  reason?: string;
}

/** The write-back steps a ticket is moved through: Jira transition names, ServiceNow states. */
export interface TicketSteps {
  approved?: string;
  rejected?: string;
  done?: string;
  revoked?: string;
}

/**
 * One ITSM system (integrations.yaml). Credentials stay `${VAR}` references here, resolved from
 * the environment by whatever talks to the system; none is ever stored resolved.
 */
export interface IntegrationConfig {
  name: string;
  type: IntegrationType;
  url: string;
  /** Jira: account email and API token; ServiceNow: user and password (basic auth both). */
  user: string;
  secret: string;
  webhookSecret?: string;
  /** The non-human identity the integration acts as. */
  identity: string;
  /** Ticket people are identities by this attribute; `id`: by identity id. */
  matchAttribute: string;
  fields: IntegrationFields;
  steps: TicketSteps;
  approvalsInTicket: boolean;
  onTicketClosed: 'revoke' | 'report';
  /** Requests made elsewhere at or above this risk open a ticket here (outbound, ADR 0037). */
  ticketed?: {
    riskAtLeast: RiskTier;
    /** Jira: the project key and issue type a ticket is created as. */
    project?: string;
    issueType?: string;
    /** ServiceNow: the catalog item (sys_id) a requested item is created under. */
    catalogItem?: string;
  };
}

/** One recurring campaign of reviews.yaml. */
export interface RecurringReview {
  name: string;
  scope: string;
  /** Seconds between openings; periods are counted from the Unix epoch, so every node agrees. */
  every: number;
  /** Seconds from the start of a period to the campaign's due date. */
  dueIn: number;
  reviewer: string;
  default: 'certify' | 'revoke';
}

/** An OpenID Connect provider people sign in with (authorization code + PKCE). */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** A `${VAR}` reference, resolved from the environment by `serve`; never a literal. */
  clientSecret: string;
  /** The claim whose value is a Gatehouse identity id (`email`, `preferred_username`, `sub`). */
  identityClaim: string;
  /** Where the provider sends the browser back; absent, derived from the request's host. */
  redirectUri?: string;
}

export interface SessionSettings {
  /** Seconds a session lives from sign-in. */
  lifetime: number;
  /** Groups whose members' sessions also carry `audit` or `admin` (people never get others). */
  scopes: { audit: string[]; admin: string[] };
}

/**
 * Delivery channels, as written: `${VAR}` references are kept and resolved from the environment
 * by the process that delivers, so no secret reaches the store.
 */
export interface NotificationSettings {
  email?: { smtpUrl: string; from: string; addressAttribute?: string };
  chat?: { webhookUrl: string };
  /** Notifications for one person within this many seconds go out as one message; 0: each alone. */
  digestSeconds: number;
}

export const DEFAULT_SETTINGS: Settings = {
  approvalTimeout: 72 * 3600,
  fallbackGroup: 'governance',
  chains: {
    low: [{ rule: 'manager', minApprovals: 1 }],
    medium: [{ rule: 'manager', minApprovals: 1 }],
    high: [
      { rule: 'manager', minApprovals: 1 },
      { rule: 'app_owner', minApprovals: 1 },
    ],
    critical: [
      { rule: 'manager', minApprovals: 1 },
      { rule: 'app_owner', minApprovals: 1 },
    ],
  },
  emergencyMaxDuration: 4 * 3600,
  emergencyReviewWithin: 24 * 3600,
  revocationSla: 3600,
  mover: 'revoke',
  expiryReminders: [7 * 86400, 86400],
  authenticatedOnly: false,
};

/** A whole configuration directory, parsed and cross-checked (CONFIG.md). */
export interface GovernanceConfig {
  settings: Settings;
  identities: Identity[];
  groups: Group[];
  apps: App[];
  entitlements: Entitlement[];
  sod: SodRule[];
  birthright: BirthrightRule[];
  policies: Policy[];
  connectors: ConnectorConfig[];
}

/**
 * How an actor was established: `cli` (the operator's own tool with direct store access; the
 * actor is whom the operator says they act for), `api` (an API token), `ui` (a person's browser
 * session, ADR 0024), `itsm` (an authenticated channel), `job` (Gatehouse itself: sweep, sync,
 * birthright).
 */
export const VIAS = ['cli', 'api', 'ui', 'itsm', 'job'] as const;
export type Via = (typeof VIAS)[number];

export type RequestStatus = 'pending_approval' | 'approved' | 'rejected' | 'cancelled' | 'lapsed';
export type Outcome = 'auto_approved' | 'needs_approval' | 'rejected';

export interface Reason {
  code: string;
  policy?: string;
  message: string;
}

export interface Decision {
  outcome: Outcome;
  reasons: Reason[];
  role_fit: number;
  role_fit_explanation: string;
  decided_at: string;
  inputs: Record<string, unknown>;
}

export type GrantState =
  'provisioning' | 'active' | 'revoking' | 'revoked' | 'failed' | 'revoke_failed';
export type GrantTrigger = 'request' | 'birthright' | 'emergency' | 'adopted';
export type RevokeTrigger =
  'expiry' | 'manual' | 'mover' | 'leaver' | 'review' | 'policy' | 'reconcile' | 'ticket_closed';
