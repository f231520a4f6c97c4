import type { Sql } from '../sql.js';
import type { GrantRow } from './grants.js';

export interface GrantView {
  id: string;
  identity: string;
  entitlement: string;
  app: string;
  owner: string;
  state: string;
  granted_at: string | null;
  expires_at: string | null;
  trigger: string;
  emergency: boolean;
  request: string | null;
  verified_at: string | null;
  revoked_at: string | null;
  revoke_trigger: string | null;
  revocation_latency_seconds: number | null;
  failure: string | null;
  let_expire: boolean;
  last_reminder_at: string | null;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function grantView(g: GrantRow): GrantView {
  return {
    id: g.id,
    identity: g.identity,
    entitlement: g.entitlement,
    app: g.app,
    owner: g.owner,
    state: g.state,
    granted_at: iso(g.granted_at),
    expires_at: iso(g.expires_at),
    trigger: g.trigger,
    emergency: g.emergency,
    request: g.request_id,
    verified_at: iso(g.verified_at),
    revoked_at: iso(g.revoked_at),
    revoke_trigger: g.revoke_trigger,
    revocation_latency_seconds: g.revocation_latency_seconds,
    failure: g.failure,
    let_expire: g.let_expire,
    last_reminder_at: iso(g.last_reminder_at),
  };
}

export interface GrantFilter {
  identity?: string;
  app?: string;
  state?: string;
  /** Seconds: active grants expiring within this window from `now`. */
  expiringWithin?: number;
  now?: Date;
}

export async function listGrants(sql: Sql, f: GrantFilter): Promise<GrantView[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (f.identity) add('identity = ?', f.identity);
  if (f.app) add('app = ?', f.app);
  if (f.state) add('state = ?', f.state);
  if (f.expiringWithin !== undefined && f.now) {
    add(
      `state = 'active' AND expires_at <= ?`,
      new Date(f.now.getTime() + f.expiringWithin * 1000),
    );
  }
  const rows = await sql.query<GrantRow>(
    `SELECT * FROM grants ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT 10000`,
    params,
  );
  return rows.map(grantView);
}
