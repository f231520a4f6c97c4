import { parseArgs } from 'node:util';
import { InputError } from '../core/errors.js';

type OptionSpec = { type: 'string' | 'boolean'; short?: string };

/** Options every command takes, before or after the command name. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  data: { type: 'string' },
  json: { type: 'boolean' },
  as: { type: 'string' },
  now: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export interface Parsed {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

/** Parses strictly: an unknown flag is an input error naming it, never silently ignored. */
export function parse(argv: string[], options: Record<string, OptionSpec>): Parsed {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { positionals: r.positionals, values: r.values as Parsed['values'] };
  } catch (e) {
    const msg = (e as Error).message
      .split('\n')[0]!
      .replace(/\. To specify a positional argument.*$/, '');
    throw new InputError(msg);
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function need(p: Parsed, name: string, why: string): string {
  const v = str(p, name);
  if (v === undefined || v === '') throw new InputError(`--${name} is required: ${why}`);
  return v;
}

export function positional(p: Parsed, index: number, what: string): string {
  const v = p.positionals[index];
  if (v === undefined) throw new InputError(`missing ${what}`);
  return v;
}

/** `--limit N --cursor C`: the page options every list command takes. */
export const PAGE_OPTIONS: Record<string, OptionSpec> = {
  limit: { type: 'string' },
  cursor: { type: 'string' },
};

export const PAGE_USAGE = '[--limit N] [--cursor C]';

export function pageArgs(p: Parsed): { limit?: string; cursor?: string } {
  const limit = str(p, 'limit');
  const cursor = str(p, 'cursor');
  return { ...(limit !== undefined ? { limit } : {}), ...(cursor !== undefined ? { cursor } : {}) };
}
