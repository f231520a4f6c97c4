import type { Gatehouse } from '../app/gatehouse.js';
import { InputError } from '../core/errors.js';
import type { Parsed } from './args.js';
import type { CliContext, CliEnv } from './context.js';

export type OptionSpec = { type: 'string' | 'boolean'; short?: string };

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface RunArgs {
  args: Parsed;
  env: CliEnv;
  io: Io;
  /** The application on the opened store; commands with `store: false` do not get one. */
  app: Gatehouse;
  /** The opened store and its connectors, for commands that hold them (serve). */
  context?: CliContext;
}

/** What a command prints: `json` with --json, `text` otherwise. */
export interface Output {
  json: unknown;
  text: string;
  /** Non-zero when the command ran but what it found is a failure (a broken audit chain). */
  exitCode?: number;
}

export interface Command {
  /** One or two words: "request", "identities sync". */
  name: string;
  usage: string;
  summary: string;
  options?: Record<string, OptionSpec>;
  store?: boolean;
  run(r: RunArgs): Promise<Output | void>;
}

export function actor(r: RunArgs, command: string): string {
  const as = r.args.values.as;
  if (typeof as !== 'string' || as === '')
    throw new InputError(`${command} needs --as ID: the identity acting`);
  return as;
}
