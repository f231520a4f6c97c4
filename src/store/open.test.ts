import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './open.js';

test('an embedded store opened for one command starts with small shared memory, one opened to serve with the defaults', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-open-'));
  try {
    const shown = async (brief: boolean) => {
      const store = await openStore({ dataDir: dir, command: brief ? 'grants' : 'serve', brief });
      try {
        const [b] = await store.sql.query<{ shared_buffers: string }>('SHOW shared_buffers');
        const [c] = await store.sql.query<{ max_connections: string }>('SHOW max_connections');
        return [b!.shared_buffers, c!.max_connections];
      } finally {
        await store.close();
      }
    };
    assert.deepEqual(await shown(true), ['4MB', '5']);
    assert.deepEqual(await shown(false), ['128MB', '100']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
