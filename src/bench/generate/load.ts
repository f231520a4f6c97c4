import type { Identity } from '../../core/model.js';
import { csvField } from './write-config.js';
import { Rng } from './rng.js';
import { type BenchWorld, grantTimes } from './world.js';

/** A store's bulk path: COPY … FROM STDIN on the server, COPY … FROM '/dev/blob' on PGlite. */
export interface BulkCopy {
  /** Loads CSV lines (no header) into the columns; returns the rows loaded. */
  copy(table: string, columns: readonly string[], lines: Iterable<string>): Promise<number>;
}

const IDENTITY_COLUMNS = [
  'id',
  'kind',
  'status',
  'display_name',
  'department',
  'title',
  'manager',
  'owner',
  'attributes',
  'source',
  'created_at',
  'updated_at',
];

const GRANT_COLUMNS = [
  'id',
  'identity',
  'entitlement',
  'app',
  'owner',
  'trigger',
  'state',
  'duration',
  'created_at',
  'granted_at',
  'expires_at',
  'verified_at',
];

export function* identityLines(identities: readonly Identity[], at: Date): Iterable<string> {
  const t = at.toISOString();
  for (const i of identities)
    yield [
      i.id,
      i.kind,
      i.status,
      i.displayName,
      i.department,
      i.title,
      i.manager,
      i.owner,
      JSON.stringify(i.attributes),
      'sync',
      t,
      t,
    ]
      .map(csvField)
      .join(',');
}

export function* grantLines(world: BenchWorld, at: Date): Iterable<string> {
  const rng = new Rng(world.seed ^ 0x5eed);
  const now = at.getTime();
  const g = world.grants;
  for (let k = 0; k < g.length; k++) {
    const who = world.identities[g.identity[k]!]!;
    const e = world.entitlements[g.entitlement[k]!]!;
    const { granted, expires } = grantTimes(rng, e, now);
    yield [
      `grt_bench${k}`,
      who.id,
      e.id,
      e.app,
      who.kind === 'human' ? who.id : who.owner,
      'request',
      'active',
      e.standing ? null : e.grantDays * 86_400,
      granted.toISOString(),
      granted.toISOString(),
      e.standing ? null : expires.toISOString(),
      granted.toISOString(),
    ]
      .map(csvField)
      .join(',');
  }
}

/** Loads the world's identities and live grants through the bulk path, not the request path. */
export async function loadWorld(bulk: BulkCopy, world: BenchWorld, at: Date) {
  const identities = await bulk.copy(
    'identities',
    IDENTITY_COLUMNS,
    identityLines(world.identities, at),
  );
  const grants = await bulk.copy('grants', GRANT_COLUMNS, grantLines(world, at));
  return { identities, grants };
}

export { IDENTITY_COLUMNS, GRANT_COLUMNS };
