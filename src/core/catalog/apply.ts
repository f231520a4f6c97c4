import { appendAudit, canonical } from '../audit/chain.js';
import {
  type IdentityRow,
  toApp,
  toBirthright,
  toConnector,
  toEntitlement,
  toIdentity,
  toPolicy,
  toSodRule,
} from './rows.js';
import type { GovernanceConfig, Identity, Via } from '../model.js';
import type { Sql } from '../sql.js';
import { catalogFromConfig, configHash } from './catalog-from-config.js';
import { type ImpactItem, grantImpact } from './impact.js';

export interface Change {
  kind: string;
  id: string;
  change: 'added' | 'changed' | 'removed';
}

export interface ApplyResult {
  hash: string;
  changes: Change[];
  impact: ImpactItem[];
  dry_run: boolean;
}

interface Section<T> {
  kind: string;
  table: string;
  key: string;
  items: T[];
  id: (t: T) => string;
  current: (sql: Sql) => Promise<T[]>;
  write: (tx: Sql, t: T) => Promise<void>;
  /** Removal; entitlements are retired rather than deleted, so live grants keep their meaning. */
  remove: (tx: Sql, id: string) => Promise<void>;
}

/** Erases a section's element type so the sections can share one list. */
function section<T>(s: Section<T>): Section<unknown> {
  return s as unknown as Section<unknown>;
}

const del = (table: string, key: string) => (tx: Sql, id: string) =>
  tx.query(`DELETE FROM ${table} WHERE ${key} = $1`, [id]).then(() => undefined);

function sections(cfg: GovernanceConfig, now: Date): Section<unknown>[] {
  return [
    section({
      kind: 'identity',
      table: 'identities',
      key: 'id',
      items: cfg.identities,
      id: (i: Identity) => i.id,
      // identities.csv seeds identities; once one exists, `identities sync` and the lifecycle own
      // it (a leaver's agents get a new owner), so apply never rewrites it.
      current: async (sql) =>
        (
          await sql.query<IdentityRow>(`SELECT * FROM identities WHERE id = ANY($1::text[])`, [
            cfg.identities.map((i) => i.id),
          ])
        ).map((r) => cfg.identities.find((i) => i.id === r.id) ?? toIdentity(r)),
      write: (tx, i: Identity) => upsertIdentity(tx, i, 'config', now),
      // Identities leave through the HR feed (a leaver), never by disappearing from config.
      remove: async () => undefined,
    }),
    section({
      kind: 'group',
      table: 'groups',
      key: 'id',
      items: cfg.groups,
      id: (g: { id: string }) => g.id,
      current: async (sql) => {
        const rows = await sql.query<{ id: string; members: string[] | null }>(
          `SELECT g.id, array_remove(array_agg(m.identity_id ORDER BY m.identity_id), NULL) AS members FROM groups g LEFT JOIN group_members m ON m.group_id = g.id GROUP BY g.id`,
        );
        return rows.map((r) => ({ id: r.id, members: r.members ?? [] }));
      },
      write: async (tx, g: { id: string; members: string[] }) => {
        await tx.query('INSERT INTO groups (id) VALUES ($1) ON CONFLICT DO NOTHING', [g.id]);
        await tx.query('DELETE FROM group_members WHERE group_id = $1', [g.id]);
        for (const m of new Set(g.members))
          await tx.query('INSERT INTO group_members (group_id, identity_id) VALUES ($1, $2)', [
            g.id,
            m,
          ]);
      },
      remove: del('groups', 'id'),
    }),
    section({
      kind: 'connector',
      table: 'connectors',
      key: 'name',
      items: cfg.connectors,
      id: (c: { name: string }) => c.name,
      current: async (sql) => (await sql.query('SELECT * FROM connectors')).map(toConnector),
      write: (tx, c: GovernanceConfig['connectors'][number]) =>
        tx
          .query(
            `INSERT INTO connectors (name, type, settings) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET type = $2, settings = $3`,
            [c.name, c.type, JSON.stringify(c.settings)],
          )
          .then(() => undefined),
      remove: del('connectors', 'name'),
    }),
    section({
      kind: 'app',
      table: 'apps',
      key: 'id',
      items: cfg.apps,
      id: (a: { id: string }) => a.id,
      current: async (sql) => (await sql.query('SELECT * FROM apps')).map(toApp),
      write: (tx, a: GovernanceConfig['apps'][number]) =>
        tx
          .query(
            `INSERT INTO apps (id, name, risk, owner, connector, licence_seats) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO UPDATE SET name = $2, risk = $3, owner = $4, connector = $5, licence_seats = $6`,
            [a.id, a.name, a.risk, a.owner, a.connector, JSON.stringify(a.licenceSeats)],
          )
          .then(() => undefined),
      // An app stays while retired entitlements point at it; it simply offers nothing.
      remove: async () => undefined,
    }),
    section({
      kind: 'entitlement',
      table: 'entitlements',
      key: 'id',
      items: cfg.entitlements,
      id: (e: { id: string }) => e.id,
      current: async (sql) =>
        (await sql.query('SELECT * FROM entitlements WHERE NOT retired')).map(toEntitlement),
      write: (tx, e: GovernanceConfig['entitlements'][number]) =>
        tx
          .query(
            `INSERT INTO entitlements (id, app, risk, privileged, max_duration, default_duration, standing, kinds, requires_ticket, break_glass, approval, licence_tier, target, credential_rotation, retired)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, false)
           ON CONFLICT (id) DO UPDATE SET app = $2, risk = $3, privileged = $4, max_duration = $5, default_duration = $6, standing = $7, kinds = $8,
             requires_ticket = $9, break_glass = $10, approval = $11, licence_tier = $12, target = $13, credential_rotation = $14, retired = false`,
            [
              e.id,
              e.app,
              e.risk,
              e.privileged,
              e.maxDuration,
              e.defaultDuration,
              e.standing,
              e.kinds,
              e.requiresTicket,
              e.breakGlass,
              e.approval ? JSON.stringify(e.approval) : null,
              e.licenceTier,
              JSON.stringify(e.target),
              e.credentialRotation,
            ],
          )
          .then(() => undefined),
      remove: (tx, id) =>
        tx
          .query('UPDATE entitlements SET retired = true WHERE id = $1', [id])
          .then(() => undefined),
    }),
    section({
      kind: 'sod_rule',
      table: 'sod_rules',
      key: 'id',
      items: cfg.sod,
      id: (r: { id: string }) => r.id,
      current: async (sql) => (await sql.query('SELECT * FROM sod_rules')).map(toSodRule),
      write: (tx, r: GovernanceConfig['sod'][number]) =>
        tx
          .query(
            `INSERT INTO sod_rules (id, description, conflict, on_conflict, exception) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET description = $2, conflict = $3, on_conflict = $4, exception = $5`,
            [
              r.id,
              r.description,
              JSON.stringify(r.conflict),
              r.onConflict,
              r.exception ? JSON.stringify(r.exception) : null,
            ],
          )
          .then(() => undefined),
      remove: del('sod_rules', 'id'),
    }),
    section({
      kind: 'birthright_rule',
      table: 'birthright_rules',
      key: 'idx',
      items: cfg.birthright,
      id: (b: { index: number }) => String(b.index),
      current: async (sql) => (await sql.query('SELECT * FROM birthright_rules')).map(toBirthright),
      write: (tx, b: GovernanceConfig['birthright'][number]) =>
        tx
          .query(
            `INSERT INTO birthright_rules (idx, match, grants, duration, standing) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (idx) DO UPDATE SET match = $2, grants = $3, duration = $4, standing = $5`,
            [b.index, JSON.stringify(b.when), b.grant, b.duration, b.standing],
          )
          .then(() => undefined),
      remove: (tx, id) =>
        tx.query('DELETE FROM birthright_rules WHERE idx = $1', [Number(id)]).then(() => undefined),
    }),
    section({
      kind: 'policy',
      table: 'policies',
      key: 'id',
      items: cfg.policies,
      id: (p: { id: string }) => p.id,
      current: async (sql) => (await sql.query('SELECT * FROM policies')).map(toPolicy),
      write: (tx, p: GovernanceConfig['policies'][number]) =>
        tx
          .query(
            `INSERT INTO policies (id, text, reason, file, line) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET text = $2, reason = $3, file = $4, line = $5`,
            [p.id, p.text, p.reason, p.file, p.line],
          )
          .then(() => undefined),
      remove: del('policies', 'id'),
    }),
  ];
}

export async function upsertIdentity(
  tx: Sql,
  i: Identity,
  source: string,
  now: Date,
): Promise<void> {
  await tx.query(
    `INSERT INTO identities (id, kind, status, display_name, department, title, manager, owner, attributes, source, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
     ON CONFLICT (id) DO UPDATE SET kind = $2, status = $3, display_name = $4, department = $5, title = $6, manager = $7,
       owner = $8, attributes = $9, source = $10, updated_at = $11`,
    [
      i.id,
      i.kind,
      i.status,
      i.displayName,
      i.department,
      i.title,
      i.manager,
      i.owner,
      JSON.stringify(i.attributes),
      source,
      now,
    ],
  );
}

/**
 * Loads a parsed configuration in one transaction: only what differs is written, each change is
 * an audit event, and applying the same directory twice changes nothing. With dryRun nothing is
 * written; the result also lists the live grants the new configuration would no longer permit.
 */
export async function applyConfig(
  sql: Sql,
  cfg: GovernanceConfig,
  now: Date,
  actor: string,
  dryRun: boolean,
  via: Via = 'cli',
): Promise<ApplyResult> {
  const hash = configHash(cfg);
  const diffs: { section: Section<unknown>; change: Change; item?: unknown }[] = [];
  for (const section of sections(cfg, now)) {
    const current = new Map((await section.current(sql)).map((t) => [section.id(t), canonical(t)]));
    const seen = new Set<string>();
    for (const item of section.items) {
      const id = section.id(item);
      seen.add(id);
      const before = current.get(id);
      if (before === undefined)
        diffs.push({ section, item, change: { kind: section.kind, id, change: 'added' } });
      else if (before !== canonical(item))
        diffs.push({ section, item, change: { kind: section.kind, id, change: 'changed' } });
    }
    if (section.kind === 'identity' || section.kind === 'app') continue;
    for (const id of current.keys())
      if (!seen.has(id))
        diffs.push({ section, change: { kind: section.kind, id, change: 'removed' } });
  }
  const next = await catalogFromConfig(cfg, hash);
  const impact = await grantImpact(sql, next, new Map(cfg.identities.map((i) => [i.id, i])));
  const changes = diffs.map((d) => d.change);
  if (dryRun) return { hash, changes, impact, dry_run: true };
  await sql.transaction(async (tx) => {
    for (const d of diffs) {
      if (d.change.change === 'removed') await d.section.remove(tx, d.change.id);
      else await d.section.write(tx, d.item);
      await appendAudit(tx, now, {
        actor,
        action: `config.${d.change.kind}_${d.change.change}`,
        subject: d.change.id,
        details: { hash, via },
      });
    }
    const [state] = await tx.query<{ config_hash: string }>(
      'SELECT config_hash FROM config_state WHERE id = 1 FOR UPDATE',
    );
    if (state?.config_hash === hash) return;
    await tx.query(
      `INSERT INTO config_state (id, config_hash, settings, applied_at) VALUES (1, $1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET config_hash = $1, settings = $2, applied_at = $3`,
      [hash, JSON.stringify(cfg.settings), now],
    );
    await appendAudit(tx, now, {
      actor,
      action: 'config.applied',
      subject: `config:${hash}`,
      details: {
        hash,
        changes: changes.length,
        grants_no_longer_permitted: impact.length,
        via,
      },
    });
  });
  return { hash, changes, impact, dry_run: false };
}
