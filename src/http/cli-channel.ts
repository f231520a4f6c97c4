import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors.js';
import type { RefusalAuditor } from './refusals.js';

/** What one forwarded command printed, and how it ended: what the CLI would have shown. */
export interface CliOutcome {
  exit_code: number;
  stdout: string[];
  stderr: string[];
}

/**
 * The local command channel: while `serve` holds the embedded store, a `gatehouse` command run on
 * the same data directory is sent here and run by this process, on the store it already holds,
 * with the same output and exit code (ADR 0022). The secret is this process's own, written to the
 * data directory readable by its owner only; the server listens on loopback.
 */
export interface CliChannel {
  secret: string;
  run(argv: string[], cwd: string): Promise<CliOutcome>;
}

export const CLI_CHANNEL_PATH = '/api/v1/cli';

const MAX_ARGS = 200;

function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * Refused callers are audited like the API's (`access.unauthenticated`, refusals.ts): a caller
 * off loopback, no secret, or a wrong one. The secret itself is never recorded.
 */
export function registerCliChannel(
  server: FastifyInstance,
  channel: CliChannel,
  audit?: RefusalAuditor,
): void {
  server.post(CLI_CHANNEL_PATH, { schema: { hide: true } }, async (req, reply) => {
    const header = req.headers.authorization ?? '';
    const m = /^bearer\s+(\S+)$/i.exec(header);
    const refused = !LOOPBACK.test(req.socket.remoteAddress ?? '')
      ? 'not_loopback'
      : !m
        ? 'missing_token'
        : !sameSecret(m[1]!, channel.secret)
          ? 'invalid_token'
          : undefined;
    if (refused) {
      await audit?.(req, { kind: 'unauthenticated', code: refused });
      return reply
        .code(401)
        .send(errorBody(req, 'unauthenticated', 'the command channel needs its local secret'));
    }
    const body = req.body as { argv?: unknown; cwd?: unknown } | undefined;
    const argv = body?.argv;
    if (
      !Array.isArray(argv) ||
      argv.length > MAX_ARGS ||
      !argv.every((a): a is string => typeof a === 'string')
    )
      return reply
        .code(400)
        .send(errorBody(req, 'invalid_input', 'argv must be a list of strings', 'argv'));
    if (typeof body?.cwd !== 'string' || !body.cwd.startsWith('/'))
      return reply
        .code(400)
        .send(errorBody(req, 'invalid_input', 'cwd must be an absolute path', 'cwd'));
    return channel.run(argv, body.cwd);
  });
}
