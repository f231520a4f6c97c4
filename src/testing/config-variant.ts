import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CONFIG } from '../demo/seed.js';

/** A copy of the demo configuration with some files rewritten, for tests of one rule. */
export function configVariant(
  parent: string,
  edits: Record<string, (text: string) => string>,
): string {
  const dir = mkdtempSync(join(parent, 'cfg-'));
  cpSync(DEMO_CONFIG, dir, { recursive: true });
  for (const [file, edit] of Object.entries(edits)) {
    const path = join(dir, file);
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      text = '';
    }
    writeFileSync(path, edit(text));
  }
  return dir;
}
