import { z } from 'zod';
import { type IntegrationConfig, RISK_TIERS } from '../core/model.js';
import { referencesIn, refusedReference } from '../core/secrets.js';
import type { LoadContext } from './context.js';
import { noteRef } from './context.js';
import type { ConfigFile } from './files.js';
import { fields, listOf, name } from './schema-kit.js';
import { checkSecrets } from './secrets.js';
import { type Path, YamlSource } from './yaml-source.js';
import { formatPath, validate, validateAt } from './zod-issues.js';

const REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** A credential is only ever a ${VAR} reference: the file is reviewed in version control. */
const credential = z
  .string()
  .regex(REFERENCE, 'must be a reference such as ${JIRA_API_TOKEN}, never a literal value');

/** The integration's name is the last segment of its inbound URL, POST /hooks/{name}. */
const hookName = name.regex(
  /^[a-z][a-z0-9-]*$/,
  'expected lower-case letters, digits and dashes (it names the inbound URL /hooks/NAME)',
);

/** A dotted path into the ticket: `customfield_10050`, `variables.gatehouse_entitlement`. */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'expected a dotted field path');

const fieldMap = fields({
  entitlement: fieldPath,
  beneficiary: fieldPath.optional(),
  requester: fieldPath.optional(),
  duration: fieldPath.optional(),
  reason: fieldPath.optional(),
});

const common = {
  name: hookName,
  type: z.enum(['jira', 'servicenow']),
  url: z.string().min(1),
  identity: name,
  match: fields({ attribute: name }).default({ attribute: 'id' }),
  fields: fieldMap,
  approvals_in_ticket: z.boolean().default(false),
  on_ticket_closed: z.enum(['revoke', 'report']).default('report'),
};

/**
 * Requests made elsewhere at or above this risk open a ticket here. Jira needs to be told where:
 * the project key and the issue type the ticket is created as.
 */
const ticketedJira = fields({
  risk_at_least: z.enum(RISK_TIERS),
  project: z.string().regex(/^[A-Z][A-Z0-9_]{0,9}$/, 'expected a Jira project key such as ITSM'),
  issue_type: z.string().min(1),
});
const ticketedServiceNow = fields({
  risk_at_least: z.enum(RISK_TIERS),
  /** The sys_id of the catalog item the requested item belongs to, where one is wanted. */
  catalog_item: z
    .string()
    .regex(/^[0-9a-f]{32}$/, 'expected a sys_id (32 hex digits)')
    .optional(),
});

const jira = fields({
  ...common,
  email: z.string().min(1),
  api_token: credential,
  webhook_secret: credential,
  ticketed: ticketedJira.optional(),
  transitions: fields({
    approved: name.optional(),
    rejected: name.optional(),
    done: name.optional(),
    revoked: name.optional(),
  }).default({}),
});

const stateValue = z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform(String);

const servicenow = fields({
  ...common,
  user: z.string().min(1),
  password: credential,
  webhook_secret: credential.optional(),
  ticketed: ticketedServiceNow.optional(),
  states: fields({
    approved: stateValue.optional(),
    rejected: stateValue.optional(),
    done: stateValue.optional(),
    revoked: stateValue.optional(),
  }).default({}),
});

/** Only the type first: the entry is then checked against that type's own fields. */
const typed = z.looseObject({ name: hookName, type: common.type });

type Jira = z.output<typeof jira>;
type ServiceNow = z.output<typeof servicenow>;

function toConfig(y: Jira | ServiceNow): IntegrationConfig {
  const base = {
    name: y.name,
    url: y.url,
    identity: y.identity,
    matchAttribute: y.match.attribute,
    fields: Object.fromEntries(
      Object.entries(y.fields).filter(([, v]) => v !== undefined),
    ) as unknown as IntegrationConfig['fields'],
    approvalsInTicket: y.approvals_in_ticket,
    onTicketClosed: y.on_ticket_closed,
  };
  const steps = (s: object) =>
    Object.fromEntries(
      Object.entries(s).filter(([, v]) => typeof v === 'string'),
    ) as IntegrationConfig['steps'];
  if ('api_token' in y) {
    const j = y as Jira;
    return {
      ...base,
      type: 'jira',
      user: j.email,
      secret: j.api_token,
      webhookSecret: j.webhook_secret,
      steps: steps(j.transitions),
      ...(j.ticketed
        ? {
            ticketed: {
              riskAtLeast: j.ticketed.risk_at_least,
              project: j.ticketed.project,
              issueType: j.ticketed.issue_type,
            },
          }
        : {}),
    };
  }
  return {
    ...base,
    type: 'servicenow',
    user: y.user,
    secret: y.password,
    ...(y.webhook_secret ? { webhookSecret: y.webhook_secret } : {}),
    steps: steps(y.states),
    ...(y.ticketed
      ? {
          ticketed: {
            riskAtLeast: y.ticketed.risk_at_least,
            ...(y.ticketed.catalog_item ? { catalogItem: y.ticketed.catalog_item } : {}),
          },
        }
      : {}),
  };
}

/** Every ${VAR} named must be one Gatehouse may read (gatehouse.yaml `secrets.env_allow`). */
function checkReferences(value: unknown, src: YamlSource, path: Path, ctx: LoadContext): void {
  if (typeof value === 'string') {
    for (const v of referencesIn(value)) {
      const refused = refusedReference(v, ctx.envAllow);
      if (refused) ctx.issues.error(src.place(path), `${formatPath(path)}: refers to ${refused}`);
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value))
      checkReferences(v, src, [...path, Array.isArray(value) ? Number(k) : k], ctx);
  }
}

/**
 * integrations.yaml: the ITSM systems tickets come from (CONFIG.md). Each entry is checked
 * against its type's fields at file:line; credentials must be ${VAR} references, and the identity
 * the integration acts as must exist like any other name.
 */
export function loadIntegrations(
  file: ConfigFile | undefined,
  ctx: LoadContext,
): IntegrationConfig[] {
  if (!file) return [];
  const src = YamlSource.parse(file.rel, file.text, ctx.issues);
  const names = new Set<string>();
  const y = validate(src, listOf(z.unknown()), ctx.issues, []);
  if (src.ok) {
    checkSecrets(src.value, src, [], ctx.issues);
    checkReferences(src.value, src, [], ctx);
  }
  if (!y) return [];
  const out: IntegrationConfig[] = [];
  y.forEach((value, i) => {
    const entry = validateAt(src, [i], typed, value, ctx.issues);
    if (!entry) return;
    if (names.has(entry.name)) {
      ctx.issues.error(
        src.place([i, 'name']),
        `[${i}].name: integration "${entry.name}" is defined twice`,
      );
      return;
    }
    names.add(entry.name);
    const schema = entry.type === 'jira' ? jira : servicenow;
    const parsed = validateAt(src, [i], schema, value, ctx.issues);
    if (!parsed) return;
    noteRef(ctx.refs.identities, src, [i, 'identity'], parsed.identity);
    out.push(toConfig(parsed));
  });
  return out;
}
