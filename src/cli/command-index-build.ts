import { writeFileSync } from 'node:fs';
import { GLOBAL_OPTIONS } from './args.js';
import type { Command } from './command.js';
import { COMMANDS } from './commands/index.js';
import { type CommandIndex, INDEX_FILE } from './command-index.js';
import { commandHelp, overview } from './help.js';

/** The index of these commands, as the binary reads it before loading them. */
export function buildCommandIndex(commands: Command[] = COMMANDS): CommandIndex {
  return {
    options: Object.assign({}, GLOBAL_OPTIONS, ...commands.map((c) => c.options ?? {})),
    commands: commands.map((c) => ({ name: c.name, store: c.store !== false })),
    overview: overview(commands),
    help: Object.fromEntries(commands.map((c) => [c.name, commandHelp(c)])),
  };
}

/** Written by `npm run build` beside the built binary (scripts/command-index.mjs). */
export function writeCommandIndex(): void {
  writeFileSync(new URL(INDEX_FILE, import.meta.url), JSON.stringify(buildCommandIndex()));
}
