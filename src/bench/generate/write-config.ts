import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Identity } from '../../core/model.js';
import type { BenchWorld } from './world.js';

/**
 * Writes the world as a configuration directory in CONFIG.md's format (so `gatehouse validate`
 * accepts it), and the identities CSV beside it rather than inside: at enterprise size the people
 * and their non-human identities arrive by the HR feed and bulk load, not by `apply`.
 */
export function writeConfigDir(world: BenchWorld, dir: string): { config: string; csv: string } {
  const config = join(dir, 'config');
  mkdirSync(join(config, 'apps'), { recursive: true });
  mkdirSync(join(config, 'policies'), { recursive: true });
  const yaml = (file: string, value: unknown) =>
    writeFileSync(join(config, file), stringify(value, { lineWidth: 0 }));
  yaml('gatehouse.yaml', {
    approval: {
      timeout: '72h',
      fallback_group: 'governance',
      chains: {
        low: ['manager'],
        medium: ['manager'],
        high: ['manager', 'app_owner'],
        critical: ['manager', 'app_owner', 'group:security'],
      },
    },
    emergency: { max_duration: '4h', review_within: '24h' },
    revocation_sla: '1h',
    mover: 'revoke',
    // As the demo: governance and security sessions read everything (the web UI's auditor view).
    sessions: { scopes: { audit: ['governance', 'security'] } },
  });
  yaml('groups.yaml', world.groups);
  yaml('connectors.yaml', [
    { name: 'bench-db', type: 'postgres', url: 'embedded', create_accounts: true },
  ]);
  for (const a of world.apps)
    yaml(`apps/${a.id}.yaml`, {
      id: a.id,
      name: a.name,
      risk: a.risk,
      owner: a.owner,
      connector: 'bench-db',
      ...(Object.keys(a.seats).length ? { licence: { seats: a.seats } } : {}),
      entitlements: a.entitlements.map((e) => ({
        id: e.id,
        risk: e.risk,
        ...(e.privileged ? { privileged: true } : {}),
        ...(e.standing ? { standing: true } : { max_duration: e.maxDuration }),
        kinds: e.kinds,
        ...(e.requiresTicket ? { requires_ticket: true } : {}),
        ...(e.licenceTier ? { licence_tier: e.licenceTier } : {}),
        target: { role: e.id.replace(':', '_') },
      })),
    });
  yaml(
    'sod.yaml',
    world.sod.map((r) => ({
      id: r.id,
      description: r.description,
      conflict: r.conflict,
      on_conflict: r.onConflict,
      ...(r.onConflict === 'require_exception'
        ? { exception: { approvers: ['group:risk'], max_duration: '7d' } }
        : {}),
    })),
  );
  yaml('birthright.yaml', world.birthright);
  for (const p of world.policies) writeFileSync(join(config, 'policies', p.file), p.text);
  const csv = join(dir, 'identities.csv');
  writeFileSync(csv, identitiesCsv(world.identities));
  return { config, csv };
}

const CSV_HEADER =
  'id,kind,status,display_name,department,title,manager,owner,employment_type,location';

export function identitiesCsv(identities: readonly Identity[]): string {
  const lines = [CSV_HEADER];
  for (const i of identities)
    lines.push(
      [
        i.id,
        i.kind,
        i.status,
        i.displayName,
        i.department,
        i.title,
        i.manager,
        i.owner,
        i.attributes.employment_type ?? '',
        i.attributes.location ?? '',
      ]
        .map(csvField)
        .join(','),
    );
  return lines.join('\n') + '\n';
}

/** One CSV field; an empty string is quoted so COPY keeps it apart from NULL (an unquoted empty). */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return s === '' || /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
