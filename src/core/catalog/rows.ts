import type {
  App,
  BirthrightRule,
  ConnectorConfig,
  Entitlement,
  Identity,
  Policy,
  SodRule,
  StageRule,
} from '../model.js';

/** Row shapes as both drivers return them, and their mapping onto the model. */
export interface IdentityRow {
  id: string;
  kind: string;
  status: string;
  display_name: string;
  department: string;
  title: string;
  manager: string;
  owner: string;
  attributes: Record<string, string>;
}

export function toIdentity(r: IdentityRow): Identity {
  return {
    id: r.id,
    kind: r.kind as Identity['kind'],
    status: r.status as Identity['status'],
    displayName: r.display_name,
    department: r.department,
    title: r.title,
    manager: r.manager,
    owner: r.owner,
    attributes: r.attributes ?? {},
  };
}

export function toApp(r: Record<string, unknown>): App {
  return {
    id: r.id as string,
    name: r.name as string,
    risk: r.risk as App['risk'],
    owner: r.owner as string,
    connector: r.connector as string,
    licenceSeats: (r.licence_seats as Record<string, number>) ?? {},
  };
}

export function toEntitlement(r: Record<string, unknown>): Entitlement {
  return {
    id: r.id as string,
    app: r.app as string,
    risk: r.risk as Entitlement['risk'],
    privileged: r.privileged as boolean,
    maxDuration: (r.max_duration as number | null) ?? null,
    defaultDuration: (r.default_duration as number | null) ?? null,
    standing: r.standing as boolean,
    kinds: r.kinds as Entitlement['kinds'],
    requiresTicket: r.requires_ticket as boolean,
    breakGlass: r.break_glass as boolean,
    approval: (r.approval as StageRule[] | null) ?? null,
    licenceTier: (r.licence_tier as string | null) ?? null,
    target: r.target as Record<string, string>,
    credentialRotation: (r.credential_rotation as number | null) ?? null,
  };
}

export function toSodRule(r: Record<string, unknown>): SodRule {
  return {
    id: r.id as string,
    description: r.description as string,
    conflict: r.conflict as string[][],
    onConflict: r.on_conflict as SodRule['onConflict'],
    exception: (r.exception as SodRule['exception']) ?? null,
  };
}

export function toBirthright(r: Record<string, unknown>): BirthrightRule {
  return {
    index: r.idx as number,
    when: r.match as Record<string, string>,
    grant: r.grants as string[],
    duration: (r.duration as number | null) ?? null,
    standing: r.standing as boolean,
  };
}

export function toPolicy(r: Record<string, unknown>): Policy {
  return {
    id: r.id as string,
    text: r.text as string,
    reason: (r.reason as string | null) ?? null,
    file: r.file as string,
    line: r.line as number,
  };
}

export function toConnector(r: Record<string, unknown>): ConnectorConfig {
  return {
    name: r.name as string,
    type: r.type as string,
    settings: r.settings as Record<string, unknown>,
  };
}
