import {
  InputError,
  RefusedError,
  StoreLockedError,
  TargetError,
  errorCode,
} from '../core/errors.js';
import { ConfigError, formatIssue } from '../config/issues.js';
import { scrubSecrets, secretsIn } from '../core/secrets.js';
import { printable } from './format.js';
import { GLOBAL_OPTIONS, parse } from './args.js';
import type { Command, Io } from './command.js';
import type { CliContext, CliEnv } from './context.js';
import { COMMANDS } from './commands/index.js';
import { commandHelp, overview } from './help.js';
import { commandNameOf, helpAsked } from './command-index.js';

export type Opener = (
  env: CliEnv,
  opts: { data?: string; now?: string; command: string },
) => Promise<CliContext>;

/** The command argv names, found as the binary finds it from the build's index (command-index.ts). */
export function commandOf(argv: string[]): Command | undefined {
  const all = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options ?? {}));
  const name = commandNameOf(
    argv,
    all,
    COMMANDS.map((c) => c.name),
  );
  return COMMANDS.find((c) => c.name === name);
}

/**
 * Core messages carry no command syntax (the API, the UI and a ticket render them too); where an
 * error has a command-line answer, the CLI adds it here, by the error's code.
 */
const CLI_HINTS: Record<string, string> = {
  mass_leave_unconfirmed: 'to apply it anyway: identities sync FILE --allow-mass-leave',
  grant_standing: 'to end it: revoke GRANT --reason TEXT',
};

/** Exit codes of CLI.md: 0 success, 1 input error, 2 refused, 3 internal or target failure. */
export function exitCode(e: unknown): number {
  if (e instanceof InputError || e instanceof StoreLockedError) return 1;
  if (e instanceof RefusedError) return 2;
  return 3;
}

/**
 * Runs one command. Everything the process touches is passed in — arguments, output streams,
 * environment, and how to open the store — so tests drive the real CLI in-process.
 */
export async function runCli(argv: string[], io: Io, env: CliEnv, open?: Opener): Promise<number> {
  // Value-taking flags could be mistaken for command words, so the command is found on the
  // parsed positionals, after a first permissive look for its options.
  const guess = commandOf(argv);
  let context: CliContext | undefined;
  let json = argv.includes('--json');
  let actingAs: string | undefined;
  try {
    const help = helpAsked(argv, guess?.name);
    if (help !== undefined) {
      io.stdout(guess ? commandHelp(guess) : overview(COMMANDS));
      return 0;
    }
    if (!guess) {
      throw new InputError(
        `unknown command "${argv.filter((a) => !a.startsWith('-'))[0] ?? argv[0]}"; run gatehouse --help`,
      );
    }
    const args = parse(argv, guess.options ?? {});
    const words = guess.name.split(' ');
    if (words.some((w, i) => args.positionals[i] !== w))
      throw new InputError(
        `unknown command "${args.positionals.slice(0, 2).join(' ')}"; run gatehouse --help`,
      );
    json = args.values.json === true;
    actingAs = typeof args.values.as === 'string' ? args.values.as : undefined;
    if (guess.store !== false) {
      const data = typeof args.values.data === 'string' ? args.values.data : undefined;
      // A `serve` holding the embedded store runs the command for us (ADR 0022). Asked first,
      // before the store's drivers and the use cases are loaded: those cost a forwarded command
      // most of its time, and the store would be found locked anyway.
      if (!open && !env.env.DATABASE_URL && guess.name !== 'serve') {
        const { forward } = await import('./forward.js');
        const code = await forward(env, data, argv, io);
        if (code !== undefined) return code;
      }
      // Loaded on use, so `--help` and `validate` do not pay for the store's drivers.
      const opener = open ?? (await import('./context.js')).openContext;
      try {
        context = await opener(env, {
          ...(data !== undefined ? { data } : {}),
          ...(typeof args.values.now === 'string' ? { now: args.values.now } : {}),
          command: guess.name,
        });
      } catch (e) {
        // A `serve` holding the embedded store runs the command for us (ADR 0022).
        if (!(e instanceof StoreLockedError) || guess.name === 'serve' || env.env.DATABASE_URL)
          throw e;
        const { forward } = await import('./forward.js');
        const code = await forward(env, data, argv, io);
        if (code === undefined) throw e;
        return code;
      }
    }
    const out = await guess.run({
      args,
      env,
      io,
      app: context?.app as never,
      ...(context ? { context } : {}),
    });
    if (out) io.stdout(json ? JSON.stringify(out.json, null, 2) : out.text);
    return out?.exitCode ?? 0;
  } catch (e) {
    const code = exitCode(e);
    // Every refusal is audited, whatever the channel; the refused change itself rolled back.
    if (e instanceof RefusedError && context && guess)
      await context.app
        .recordRefusal({
          actor: actingAs ?? 'operator',
          kind: 'refused',
          code: e.code,
          operation: guess.name,
          via: 'cli',
        })
        .catch((failed: unknown) =>
          io.stderr(
            `warning: the refusal could not be audited: ${scrubSecrets(
              (failed as Error).message,
              env.env.DATABASE_URL ? secretsIn(env.env.DATABASE_URL) : [],
            )}`,
          ),
        );
    // A driver's or the store's message may quote a connection string; none is printed as is.
    const known = env.env.DATABASE_URL ? secretsIn(env.env.DATABASE_URL) : [];
    const message = scrubSecrets(e instanceof Error ? e.message : String(e), known);
    const line = (text: string) => printable(scrubSecrets(text, known));
    if (e instanceof ConfigError) {
      for (const issue of e.issues) io.stderr(`error: ${line(formatIssue(issue))}`);
    } else if (code === 3 && !(e instanceof TargetError)) {
      // An internal failure: say so plainly; the stack is for whoever runs with GATEHOUSE_DEBUG.
      io.stderr(`internal error: ${printable(message)}`);
      if (env.env.GATEHOUSE_DEBUG) io.stderr(scrubSecrets(String((e as Error).stack), known));
    } else {
      const hint = CLI_HINTS[errorCode(e).code];
      io.stderr(`error: ${printable(message)}${hint ? ` (${hint})` : ''}`);
    }
    if (json) io.stdout(JSON.stringify({ error: { ...errorCode(e), exit_code: code, message } }));
    return code;
  } finally {
    await context?.close();
  }
}
