import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

/**
 * A PGlite data directory built once per machine and copied by each test: creating one costs
 * ~5 s here, copying it well under one. Keyed by `key` (what `setup` does), so a change builds a
 * new one. Returns the data directory; callers copy it where their store or target expects it.
 */
export async function pgliteTemplate(
  name: string,
  key: string,
  setup: (db: PGlite) => Promise<void>,
): Promise<string> {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
  const template = join(tmpdir(), `gatehouse-${name}-${hash}`);
  const data = join(template, 'pgdata');
  if (existsSync(data)) return data;
  const building = mkdtempSync(join(tmpdir(), `gatehouse-${name}-build-`));
  try {
    const db = await PGlite.create(join(building, 'pgdata'));
    await setup(db);
    await db.close();
    renameSync(building, template);
  } catch (e) {
    if (!existsSync(data)) throw e; // else another test process built it first
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return data;
}
