import type { Gatehouse } from '../../app/gatehouse.js';
import { parseDuration } from '../../core/duration.js';
import { InputError } from '../../core/errors.js';
import { migrationFiles } from '../../store/migrate.js';
import { str } from '../args.js';
import type { Command, Io } from '../command.js';
import { failureLines } from './grants.js';

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
  metricsAllow: readonly string[] = [],
): Promise<void> {
  // Loaded on use: `gatehouse --help` should not pay for Fastify.
  const { buildServer } = await import('../../http/server.js');
  const server = await buildServer(app, {
    schemaVersion: migrationFiles().at(-1)?.version ?? 0,
    onInternalError: (id, e) => io.stderr(`request ${id} failed: ${(e as Error).message}`),
    // The request log: pino JSON lines on stdout, credentials redacted (docs/security.md).
    log: { stream: { write: (line) => io.stdout(line.trimEnd()) } },
    metricsAllow,
  });
  const address = await server.listen({ port, host: '127.0.0.1' });
  io.stdout(`gatehouse serving at ${address} (sweep every ${intervalSeconds}s)`);
  io.stdout('API calls need a token: `gatehouse token create --identity ID --scopes read,…`');
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const { failures, ...r } = await app.sweep();
      if (r.expired + r.lapsed + r.reminded + r.jobs_done + r.jobs_failed > 0)
        io.stdout(`sweep: ${JSON.stringify(r)}`);
      for (const line of failureLines(failures)) io.stderr(line);
    } catch (e) {
      io.stderr(`sweep failed: ${(e as Error).message}`);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalSeconds * 1000);
  await tick();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(timer);
  await server.close();
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
    await serveUntilStopped(
      r.app,
      r.io,
      portOf(str(r.args, 'port'), 8080),
      intervalOf(str(r.args, 'interval')),
      (str(r.args, 'metrics-allow') ?? '').split(','),
    );
  },
};
