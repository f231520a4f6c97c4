import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

type OptionSpec = { type: 'string' | 'boolean'; short?: string };

/**
 * What the binary needs to know about the commands before it loads any of them: their names,
 * every option (to tell a flag's value from a command word), which use a store, and the help
 * texts. `npm run build` writes it from the command table (`command-index-build.ts`), so
 * `gatehouse --help` prints without loading the commands and what they import (ADR 0041).
 */
export interface CommandIndex {
  /** The global options and every command's, merged as `commandOf` merges them. */
  options: Record<string, OptionSpec>;
  commands: { name: string; store: boolean }[];
  overview: string;
  help: Record<string, string>;
}

export const INDEX_FILE = 'command-index.json';

/** The index beside the built binary, or undefined when this build has none (tsc alone). */
export function readCommandIndex(): CommandIndex | undefined {
  try {
    return JSON.parse(readFileSync(new URL(INDEX_FILE, import.meta.url), 'utf8')) as CommandIndex;
  } catch {
    return undefined;
  }
}

/**
 * The command argv names: options may stand before or after the command, so the command words
 * are read from a first, lenient parse that knows every command's options (a flag's value is
 * never taken for a word). Two words win over one ("grants retry" over "grants").
 */
export function commandNameOf(
  argv: string[],
  options: Record<string, OptionSpec>,
  names: readonly string[],
): string | undefined {
  let words: string[];
  try {
    words = parseArgs({ args: argv, options, allowPositionals: true, strict: false }).positionals;
  } catch {
    words = argv.filter((a) => !a.startsWith('-'));
  }
  const two = words.slice(0, 2).join(' ');
  return names.find((n) => n === two) ?? names.find((n) => n === words[0]);
}

/** The `--data` directory argv names, read as leniently as the command words. */
export function dataOptionOf(
  argv: string[],
  options: Record<string, OptionSpec>,
): string | undefined {
  try {
    const v = parseArgs({ args: argv, options, allowPositionals: true, strict: false }).values.data;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which help argv asks for: none (undefined), the overview (null) or one command's (its name).
 * An argv without a known command and without --help is not a help request but an error.
 */
export function helpAsked(argv: string[], command: string | undefined): string | null | undefined {
  const help = argv.length === 0 || argv.includes('--help') || argv.includes('-h');
  if (!help) return undefined;
  return command ?? null;
}
