import type { Gatehouse } from '../../app/gatehouse.js';
import { parseDuration } from '../../core/duration.js';
import { InputError } from '../../core/errors.js';
import { migrationFiles } from '../../store/migrate.js';
import { str } from '../args.js';
import type { Command, Io } from '../command.js';
import type { CliContext, CliEnv } from '../context.js';
import { failureLines } from './grants.js';

/** The store this process holds and whose commands it runs for others (cli-channel.ts). */
export interface Held {
  context: CliContext;
  env: CliEnv;
  dir: string;
}

export const serveOptions = {
  port: { type: 'string' },
  interval: { type: 'string' },
  'metrics-allow': { type: 'string' },
} as const;

/**
 * Serves the API and runs `sweep` every interval until the process is stopped. A sweep that fails
 * is reported on stderr and retried at the next tick; its work stays in the job queue. Each failed
 * target change is printed on stderr as `sweep` prints it.
 */
export async function serveUntilStopped(
  app: Gatehouse,
  io: Io,
  port: number,
  intervalSeconds: number,
  env: Record<string, string | undefined> = process.env,
  held?: Held,
  metricsAllow: readonly string[] = [],
): Promise<void> {
  // Loaded on use: `gatehouse --help` should not pay for Fastify.
  const { buildServer } = await import('../../http/server.js');
  const { checkSignIn } = await import('../../http/oidc.js');
  // An oidc: section whose client secret is unset or empty stops serve here, not at a sign-in.
  await checkSignIn(app, env);
  const host = '127.0.0.1';
  const forward = held && !env.DATABASE_URL ? await import('../forward.js') : undefined;
  const secret = forward?.newChannelSecret();
  const server = await buildServer(app, {
    schemaVersion: migrationFiles().at(-1)?.version ?? 0,
    onInternalError: (id, e) => io.stderr(`request ${id} failed: ${(e as Error).message}`),
    // The request log: pino JSON lines on stdout, credentials redacted (docs/security.md).
    log: { stream: { write: (line) => io.stdout(line.trimEnd()) } },
    metricsAllow,
    signIn: { env, cookieSecure: !isLoopback(host) },
    ...(held && secret ? { cliChannel: { secret, run: runFor(held) } } : {}),
  });
  const address = await server.listen({ port, host });
  if (held && forward && secret) forward.writeChannelFile(held.dir, address, secret);
  io.stdout(`gatehouse serving at ${address} (sweep every ${intervalSeconds}s)`);
  io.stdout(`web UI: ${address}/`);
  io.stdout('API calls need a token: `npx gatehouse token create --identity ID --scopes read,…`');
  const signIn = await app.sessions.settings();
  if (signIn.oidc) io.stdout(`people sign in at ${address}/auth/login`);
  if (await app.sessions.isDemoStore())
    io.stdout(
      [
        `demo sign-in (this demo store only): open ${address}/ and choose "Sign in as" — e.g. alice@acme.test to request, carol@acme.test to approve, gina@acme.test for evidence and the dashboard`,
        `  or from a script: POST ${address}/auth/demo {"identity": "carol@acme.test"}`,
      ].join('\n'),
    );
  // Stopping (SIGINT, SIGTERM): take no new work, let what is in flight finish and be recorded,
  // and leave the rest due for the other nodes or the next start. Listening first, so a signal
  // during a long first sweep still stops gracefully.
  const stopping = new AbortController();
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  let current: Promise<void> | undefined;
  const tick = (): Promise<void> | undefined => {
    if (current || stopping.signal.aborted) return current;
    current = (async () => {
      try {
        const { failures, ...r } = await app.sweep(stopping.signal);
        if (r.expired + r.lapsed + r.reminded + r.jobs_done + r.jobs_failed > 0)
          io.stdout(`sweep: ${JSON.stringify(r)}`);
        for (const line of failureLines(failures)) io.stderr(line);
      } catch (e) {
        io.stderr(`sweep failed: ${(e as Error).message}`);
      }
    })().finally(() => {
      current = undefined;
    });
    return current;
  };
  const timer = setInterval(() => void tick(), intervalSeconds * 1000);
  void tick();
  await stopped;
  stopping.abort();
  clearInterval(timer);
  if (held && forward) forward.removeChannelFile(held.dir);
  await server.close();
  await current;
  io.stdout('gatehouse stopped: work in flight was recorded; nothing else was taken');
}

/**
 * Runs a command sent over the local channel as the CLI would, on the store and connectors this
 * process holds, and returns what it printed. `serve` itself is not run for others.
 */
function runFor(held: Held) {
  return async (argv: string[], cwd: string) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const io: Io = { stdout: (t) => stdout.push(t), stderr: (t) => stderr.push(t) };
    const { commandOf, runCli } = await import('../run.js');
    if (commandOf(argv)?.name === 'serve') {
      io.stderr('error: a server already holds this store; it cannot start another');
      return { exit_code: 1, stdout, stderr };
    }
    const { appOn } = await import('../context.js');
    const { CatalogCache } = await import('../../core/catalog/catalog.js');
    const { store, connectors } = held.context;
    const exit_code = await runCli(argv, io, { env: held.env.env, cwd }, async (env, o) => ({
      app: await appOn(store.sql, new CatalogCache(), connectors, env, o.now),
      store,
      connectors,
      // The store and connectors stay open: they are the server's.
      close: async () => undefined,
    }));
    return { exit_code, stdout, stderr };
  };
}

/** Plain http is acceptable on this machine only; anywhere else cookies are sent over https alone. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function portOf(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InputError(`--port: "${value}" is not a port number`);
  return n;
}

/** setInterval takes a signed 32-bit count of milliseconds; beyond it Node fires every millisecond. */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export function intervalOf(value: string | undefined): number {
  const seconds = parseDuration(value ?? '30s', '--interval');
  if (seconds > MAX_TIMER_SECONDS)
    throw new InputError(
      `--interval: "${value}" is too long (at most ${Math.floor(MAX_TIMER_SECONDS / 86400)}d, a timer's limit)`,
      { code: 'interval_too_long', field: 'interval' },
    );
  return seconds;
}

export const serve: Command = {
  name: 'serve',
  usage: 'serve [--port 8080] [--interval 30s] [--metrics-allow CIDR,…]',
  summary: 'HTTP API and the background jobs (sweep on a schedule)',
  options: serveOptions,
  async run(r) {
    const { dataDir } = await import('../context.js');
    const data = str(r.args, 'data');
    await serveUntilStopped(
      r.app,
      r.io,
      portOf(str(r.args, 'port'), 8080),
      intervalOf(str(r.args, 'interval')),
      r.env.env,
      r.context ? { context: r.context, env: r.env, dir: dataDir(r.env, data) } : undefined,
      (str(r.args, 'metrics-allow') ?? '').split(','),
    );
  },
};
