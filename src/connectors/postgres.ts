import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type {
  AccessRef,
  Assignment,
  Connector,
  ConnectorFactory,
} from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { resolveSetting } from './env.js';

/**
 * Target type "postgres": an entitlement `{ role: "analytics_reader" }` is direct membership of
 * the account's role in that role. `url: embedded` is a PGlite database in <dataDir>/target, so the
 * demo needs no server.
 */
export const postgresConnector: ConnectorFactory = async (config, ctx) => {
  const { name, settings } = config;
  const createAccounts = settings.create_accounts ?? false;
  if (typeof createAccounts !== 'boolean') {
    throw new InputError(`connector ${name}: create_accounts must be true or false`);
  }
  const url = resolveSetting(name, 'url', settings.url, ctx.env);
  const backend = url === 'embedded' ? await embedded(name, ctx.dataDir) : server(name, url);
  return new PostgresConnector(name, backend, createAccounts);
};

interface Backend {
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Where the target is, for messages: a host, never a credential. */
  where: string;
  /** Values to scrub from any message that reaches us from the driver. */
  secrets: string[];
  close(): Promise<void>;
}

const MEMBERSHIP = `FROM pg_auth_members m
  JOIN pg_roles r ON r.oid = m.roleid
  JOIN pg_roles a ON a.oid = m.member`;

class PostgresConnector implements Connector {
  readonly type = 'postgres';
  private closed = false;

  constructor(
    readonly name: string,
    private readonly db: Backend,
    private readonly createAccounts: boolean,
  ) {}

  async apply(ref: AccessRef): Promise<void> {
    const { role, account } = this.parse(ref);
    const found = await this.existing(role, account);
    if (!found.has(role)) {
      throw this.fail(`role "${role}" does not exist (granting it to "${account}")`);
    }
    if (!found.has(account)) {
      if (!this.createAccounts) {
        throw this.fail(
          `account role "${account}" does not exist and create_accounts is off (granting "${role}")`,
        );
      }
      // 42710: a concurrent apply created it first, which is what we wanted.
      await this.run(`CREATE ROLE ${ident(account)} NOLOGIN`, [], { role, account }, ['42710']);
    }
    // Granting a membership already held is a notice, not an error: apply is idempotent.
    await this.run(`GRANT ${ident(role)} TO ${ident(account)}`, [], { role, account });
  }

  async revoke(ref: AccessRef): Promise<void> {
    const { role, account } = this.parse(ref);
    const found = await this.existing(role, account);
    // A role or account that no longer exists holds no membership: the goal state already holds.
    if (!found.has(role) || !found.has(account)) return;
    await this.run(`REVOKE ${ident(role)} FROM ${ident(account)}`, [], { role, account }, [
      '42704', // dropped between the check and the revoke
    ]);
  }

  async readBack(ref: AccessRef): Promise<boolean> {
    const { role, account } = this.parse(ref);
    const rows = await this.run(
      `SELECT EXISTS (SELECT 1 ${MEMBERSHIP} WHERE r.rolname = $1 AND a.rolname = $2) AS held`,
      [role, account],
      { role, account },
    );
    return rows[0]?.held === true;
  }

  async listAll(targets: Record<string, string>[]): Promise<Assignment[]> {
    const roles = [...new Set(targets.map((t) => this.role(t)))];
    if (roles.length === 0) return [];
    const rows = await this.run(
      `SELECT DISTINCT r.rolname AS role, a.rolname AS account ${MEMBERSHIP}
       WHERE r.rolname = ANY($1::text[]) ORDER BY 1, 2`,
      [roles],
    );
    return rows.map((r) => ({ account: String(r.account), target: { role: String(r.role) } }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private parse(ref: AccessRef): { role: string; account: string } {
    const role = this.role(ref.target);
    checkName(this.name, 'account', ref.account);
    return { role, account: ref.account };
  }

  private role(target: Record<string, string>): string {
    const role = target.role;
    if (typeof role !== 'string' || role === '') {
      throw this.fail(`the target has no role (expected { role: "<name>" })`);
    }
    checkName(this.name, 'role', role);
    return role;
  }

  private async existing(role: string, account: string): Promise<Set<string>> {
    const rows = await this.run(
      'SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2)',
      [role, account],
      { role, account },
    );
    return new Set(rows.map((r) => String(r.rolname)));
  }

  private async run(
    text: string,
    params: unknown[],
    about?: { role: string; account: string },
    tolerated: string[] = [],
  ): Promise<Record<string, unknown>[]> {
    if (this.closed) throw this.fail('the connector is closed');
    try {
      return await this.db.query(text, params);
    } catch (e) {
      const err = e as { code?: unknown; severity?: unknown; message?: unknown };
      if (typeof err.code === 'string' && tolerated.includes(err.code)) return [];
      const detail = this.scrub(String(err.message ?? e));
      if (isConnectionError(err)) {
        throw this.fail(`cannot reach the target database at ${this.db.where}: ${detail}`, e);
      }
      const subject = about ? `role "${about.role}", account "${about.account}": ` : '';
      throw this.fail(`${subject}${detail}`, e);
    }
  }

  private scrub(message: string): string {
    return this.db.secrets.reduce((m, s) => m.split(s).join('***'), message);
  }

  private fail(message: string, cause?: unknown): TargetError {
    return new TargetError(`connector ${this.name}: ${message}`, cause ? { cause } : undefined);
  }
}

/** Quoted, so any name is taken literally (case, spaces, quotes) and never parsed as SQL. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** PostgreSQL silently truncates longer names, which would grant a different role than asked. */
function checkName(connector: string, what: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) {
    throw new TargetError(`connector ${connector}: the ${what} name is empty or invalid`);
  }
  if (Buffer.byteLength(name) > 63) {
    throw new TargetError(`connector ${connector}: ${what} "${name}" is longer than 63 bytes`);
  }
}

/** Errors from reaching or logging in to the server, as opposed to errors of a statement. */
function isConnectionError(err: { code?: unknown; severity?: unknown; message?: unknown }) {
  const code = typeof err.code === 'string' ? err.code : '';
  if (typeof err.severity === 'string') return /^(08|28|3D|57P)/.test(code);
  return code.startsWith('E') || /connect|terminated|timeout/i.test(String(err.message));
}

function server(connector: string, url: string): Backend {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    // The value may hold a password: say what is expected, not what was given.
  }
  if (!u || (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')) {
    throw new InputError(`connector ${connector}: url must be a postgres:// URL or "embedded"`);
  }
  const host = u.host || u.searchParams.get('host') || 'localhost';
  const secrets = [u.password, safeDecode(u.password)].filter((s) => s.length > 0);
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 });
  // An idle connection the server dropped: the next query opens a new one, so do not crash.
  pool.on('error', () => {});
  return {
    where: host,
    secrets,
    query: async (text, params) => (await pool.query(text, params)).rows,
    close: () => pool.end(),
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * PGlite does not lock its directory and two instances on one directory lose writes, so every
 * connector of this process on the same directory shares one instance (other processes are kept
 * out by the store's lock on the data directory).
 */
const shared = new Map<string, { db: Promise<PGlite>; users: number }>();

async function embedded(connector: string, dataDir: string): Promise<Backend> {
  const dir = resolve(dataDir, 'target');
  let entry = shared.get(dir);
  if (!entry) {
    mkdirSync(dir, { recursive: true });
    entry = { db: PGlite.create(dir), users: 0 };
    shared.set(dir, entry);
  }
  const mine = entry;
  mine.users++;
  let db: PGlite;
  try {
    db = await mine.db;
  } catch (e) {
    mine.users--;
    if (shared.get(dir) === mine) shared.delete(dir);
    const detail = e instanceof Error ? e.message : String(e);
    throw new TargetError(
      `connector ${connector}: cannot open the embedded target in ${dir}: ${detail}`,
      {
        cause: e,
      },
    );
  }
  return {
    where: `the embedded target in ${dir}`,
    secrets: [],
    query: async (text, params) => (await db.query<Record<string, unknown>>(text, params)).rows,
    close: async () => {
      if (--mine.users > 0) return;
      shared.delete(dir);
      await db.close();
    },
  };
}

/**
 * Runs `fn` against the embedded target database of `dataDir`, sharing this process's instance:
 * the demo uses it to create the roles it then governs.
 */
export async function withEmbeddedTarget<T>(
  dataDir: string,
  fn: (query: Backend['query']) => Promise<T>,
): Promise<T> {
  const backend = await embedded('embedded-target', dataDir);
  try {
    return await fn(backend.query);
  } finally {
    await backend.close();
  }
}
