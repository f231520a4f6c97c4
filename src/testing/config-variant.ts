import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CONFIG } from '../demo/seed.js';

/** The demo's `sessions:` block in gatehouse.yaml, with the comment above it. */
const DEMO_SESSIONS = /^(#[^\n]*\n)?sessions:\n( {2}.*\n)*/m;

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
    let edited = edit(text);
    // A test that sets its own `sessions:` means it instead of the demo's (the web UI's scopes).
    if ((edited.match(/^sessions:/gm) ?? []).length > 1)
      edited = edit(text.replace(DEMO_SESSIONS, ''));
    writeFileSync(path, edited);
  }
  return dir;
}
