import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { z } from 'zod';
import type {
  AccessRef,
  ApplyResult,
  Assignment,
  Connector,
  ConnectorFactory,
  ListOptions,
  Settled,
} from '../core/ports/connector.js';
import { compareText } from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { fields } from './schema.js';
import { type Classified, pageSizeOf, transportFailure } from './classify.js';
import { resolveSetting } from './env.js';
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_STATEMENT_TIMEOUT,
  parseSettings,
  timeoutSettings,
  type ConnectorModule,
} from './module.js';

/** PostgreSQL silently truncates longer names, which would grant a different role than asked. */
const pgName = z
  .string()
  .min(1)
  .refine((v) => !v.includes('\0'), 'must not contain a NUL character')
  .refine(
    (v) => Buffer.byteLength(v) <= 63,
    'is longer than the 63 bytes PostgreSQL keeps (it would truncate it to another name)',
  );

/** The value may hold a password: messages say what is expected, never what was given. */
const urlSetting = z
  .string()
  .min(1)
  .refine(
    (v) => v === 'embedded' || v.includes('${') || /^postgres(ql)?:\/\//.test(v),
    'must be a postgres:// URL, a ${VAR} reference to one, or "embedded"',
  );

const settingsSchema = fields({
  url: urlSetting,
  create_accounts: z.boolean().optional(),
  /** Connections to a server target; calls beyond them wait, for at most connect_timeout. */
  max_connections: z.number().int().min(1).max(32).optional(),
  ...timeoutSettings,
});

/** As many as the job runtime's default calls in flight per connector. */
const DEFAULT_MAX_CONNECTIONS = 4;

/**
 * Target type "postgres": an entitlement `{ role: "analytics_reader" }` is direct membership of
 * the account's role in that role. `url: embedded` is a PGlite database in <dataDir>/target, so the
 * demo needs no server.
 */
export const postgresConnector: ConnectorFactory = async (config, ctx) => {
  const { name } = config;
  const s = parseSettings(settingsSchema, config);
  const url = resolveSetting(name, 'url', s.url, ctx.env);
  const timeouts = {
    connect: s.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT,
    statement: s.statement_timeout ?? DEFAULT_STATEMENT_TIMEOUT,
  };
  const pool = { ...timeouts, max: s.max_connections ?? DEFAULT_MAX_CONNECTIONS };
  const backend = url === 'embedded' ? await embedded(name, ctx.dataDir) : server(name, url, pool);
  return new PostgresConnector(name, backend, s.create_accounts ?? false);
};

export const postgresModule: ConnectorModule = {
  type: 'postgres',
  settings: settingsSchema,
  target: fields({ role: pgName }),
  capabilities: {
    listsAssignments: true,
    issuesCredentials: true,
    reportsLastUse: false,
    fulfilsAsynchronously: false,
  },
  create: postgresConnector,
};

/** Large enough that a listing is few round trips, small enough that a page is cheap to hold. */

interface Backend {
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * Several parameterless statements in one round trip, as one implicit transaction (the simple
   * query protocol): all of them take effect or none does.
   */
  exec(text: string): Promise<void>;
  /**
   * The rows of one query in pages of `size`, read through a cursor in a read-only transaction of
   * one connection: the server sorts once and the client holds one page. Absent for the embedded
   * target, whose listings page by keyset instead.
   */
  stream?(text: string, size: number): AsyncGenerator<Record<string, unknown>[]>;
  /** Where the target is, for messages: a host, never a credential. */
  where: string;
  /** The timeouts in force, for messages; empty for the in-process embedded target. */
  limits: string;
  /** Values to scrub from any message that reaches us from the driver. */
  secrets: string[];
  close(): Promise<void>;
}

/** Through pg_auth_members' (roleid, member) index, never a walk of the role's members. */
const HELD = `SELECT EXISTS (SELECT 1 FROM pg_auth_members
  WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)
    AND member = (SELECT oid FROM pg_roles WHERE rolname = $2)) AS held`;

/**
 * A role's members by name: `name` compares bytewise (collation "C"), the order the Connector port
 * asks of listings, so that reconciliation can merge them with the grants. DISTINCT: since
 * PostgreSQL 16 one membership may be granted by several grantors.
 *
 * On a server the whole role is one statement read through a cursor (MEMBERS): pg_auth_members
 * has no index in member-name order, so every keyset page walks the role's memberships again,
 * and a 100,000-member role read 1,000 at a time cost 100 walks (quadratic; measured 0.3 s a page,
 * BENCHMARKS.md "Reconciliation"). The embedded target pages by keyset (PAGE): PGlite's one
 * connection cannot hold a cursor open while other calls wait, and its roles are demo-sized.
 */
const MEMBERS = (roleOid: string) => `SELECT DISTINCT a.rolname AS account
  FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member
  WHERE m.roleid = ${roleOid}::oid
  ORDER BY a.rolname`;

const PAGE = `SELECT DISTINCT a.rolname AS account
  FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member
  WHERE m.roleid = $1::oid AND a.rolname > $2::name
  ORDER BY a.rolname LIMIT $3`;

/** Every (role, account) pair of a batch held or not, in one statement through the same index. */
const HELD_MANY = `SELECT x.n, EXISTS (SELECT 1 FROM pg_auth_members
    WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = x.role)
      AND member = (SELECT oid FROM pg_roles WHERE rolname = x.account)) AS held
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(role, account, n)`;

/** Statements per round trip of a batch: bounded so that one batch is never one huge message. */
const BATCH_STATEMENTS = 500;

type Pair = { role: string; account: string };

class PostgresConnector implements Connector {
  readonly type = 'postgres';
  readonly capabilities = postgresModule.capabilities;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly db: Backend,
    private readonly createAccounts: boolean,
  ) {}

  async apply(ref: AccessRef): Promise<ApplyResult> {
    const { role, account } = this.parse(ref);
    const found = await this.existing(role, account);
    if (!found.has(role)) {
      throw this.fail(`role "${role}" does not exist (granting it to "${account}")`, {
        code: 'target_not_found',
        retryable: false,
      });
    }
    if (!found.has(account)) {
      if (!this.createAccounts) {
        throw this.fail(
          `account role "${account}" does not exist and create_accounts is off (granting "${role}")`,
          { code: 'account_not_found', retryable: false },
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
    const rows = await this.run(HELD, [role, account], { role, account });
    return rows[0]?.held === true;
  }

  /**
   * One existence check for the whole batch, then every GRANT in one round trip. Pairs whose role
   * or account is missing, or that need their account created, fail or go one by one as apply()
   * would; if the batched GRANTs fail together (one bad pair rolls the round trip back), each is
   * tried again alone, so only the bad pair fails. A target that cannot be reached fails them all
   * with its error, without trying each.
   */
  async applyMany(refs: readonly AccessRef[]): Promise<Settled<ApplyResult>[]> {
    return this.many(refs, 'GRANT', (ref) => this.apply(ref));
  }

  /** As applyMany: pairs whose role or account no longer exists hold nothing and succeed. */
  async revokeMany(refs: readonly AccessRef[]): Promise<Settled<void>[]> {
    return this.many(refs, 'REVOKE', (ref) => this.revoke(ref));
  }

  async readBackMany(refs: readonly AccessRef[]): Promise<Settled<boolean>[]> {
    const out: Settled<boolean>[] = new Array(refs.length);
    const asked: { i: number; pair: Pair }[] = [];
    refs.forEach((ref, i) => {
      try {
        asked.push({ i, pair: this.parse(ref) });
      } catch (error) {
        out[i] = { ok: false, error };
      }
    });
    if (asked.length === 0) return out;
    let rows: Record<string, unknown>[];
    try {
      rows = await this.run(HELD_MANY, [
        asked.map((a) => a.pair.role),
        asked.map((a) => a.pair.account),
      ]);
    } catch (error) {
      for (const a of asked) out[a.i] = { ok: false, error };
      return out;
    }
    const held = new Map(rows.map((r) => [Number(r.n), r.held === true]));
    asked.forEach((a, k) => (out[a.i] = { ok: true, value: held.get(k + 1) === true }));
    return out;
  }

  private async many<T>(
    refs: readonly AccessRef[],
    verb: 'GRANT' | 'REVOKE',
    one: (ref: AccessRef) => Promise<T>,
  ): Promise<Settled<T>[]> {
    const out: Settled<T>[] = new Array(refs.length);
    const parsed: { i: number; pair: Pair }[] = [];
    refs.forEach((ref, i) => {
      try {
        parsed.push({ i, pair: this.parse(ref) });
      } catch (error) {
        out[i] = { ok: false, error };
      }
    });
    const alone = async (i: number) => {
      try {
        out[i] = { ok: true, value: await one(refs[i]!) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    };
    if (parsed.length === 0) return out;
    let found: Set<string>;
    try {
      const names = [...new Set(parsed.flatMap((p) => [p.pair.role, p.pair.account]))];
      const rows = await this.run('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [
        names,
      ]);
      found = new Set(rows.map((r) => String(r.rolname)));
    } catch (error) {
      for (const p of parsed) out[p.i] = { ok: false, error };
      return out;
    }
    const batch: { i: number; pair: Pair }[] = [];
    for (const p of parsed) {
      const complete = found.has(p.pair.role) && found.has(p.pair.account);
      // A missing role or account: the single call says what it means (an error for apply, the
      // goal already holding for revoke), and creates the account where that is configured.
      if (complete) batch.push(p);
      else await alone(p.i);
    }
    for (let k = 0; k < batch.length; k += BATCH_STATEMENTS) {
      const chunk = batch.slice(k, k + BATCH_STATEMENTS);
      const text = chunk
        .map(({ pair }) =>
          verb === 'GRANT'
            ? `GRANT ${ident(pair.role)} TO ${ident(pair.account)}`
            : `REVOKE ${ident(pair.role)} FROM ${ident(pair.account)}`,
        )
        .join(';\n');
      try {
        await this.exec(text);
        for (const p of chunk) out[p.i] = { ok: true, value: undefined as T };
      } catch (error) {
        const reach = error instanceof TargetError && unreachable.has(error);
        if (reach) for (const p of chunk) out[p.i] = { ok: false, error };
        else for (const p of chunk) await alone(p.i);
      }
    }
    return out;
  }

  /**
   * The account role's login password, as a SCRAM-SHA-256 verifier computed here: the server
   * stores what it would have stored, and the clear password never travels, so it cannot appear
   * in the server's statement log or in pg_stat_activity. `VALID UNTIL` makes the server refuse
   * it afterwards; LOGIN lets the account use it.
   */
  async issueCredential(
    ref: AccessRef,
    credential: { secret: string; validUntil: Date },
  ): Promise<void> {
    const { role, account } = this.parse(ref);
    const found = await this.existing(role, account);
    if (!found.has(account)) {
      throw this.fail(`account role "${account}" does not exist (issuing its credential)`, {
        code: 'account_not_found',
        retryable: false,
      });
    }
    const verifier = scramVerifier(credential.secret);
    await this.run(
      `ALTER ROLE ${ident(account)} WITH LOGIN PASSWORD ${literal(verifier)} VALID UNTIL ${literal(
        credential.validUntil.toISOString(),
      )}`,
      [],
      { role, account },
    );
  }

  async *listAll(
    targets: Record<string, string>[],
    opts: ListOptions = {},
  ): AsyncGenerator<Assignment[]> {
    const pageSize = pageSizeOf(this.name, opts);
    // In the port's order: targets (for `{ role }`, by role name), then accounts, as UTF-8 bytes.
    const wanted = [...new Set(targets.map((t) => this.role(t)))].sort(compareText);
    if (wanted.length === 0) return;
    const found = new Map(
      (
        await this.run(
          'SELECT oid::text AS id, rolname FROM pg_roles WHERE rolname = ANY($1::text[])',
          [wanted],
        )
      ).map((r) => [String(r.rolname), String(r.id)]),
    );
    for (const role of wanted) {
      const id = found.get(role);
      if (id === undefined) continue;
      const target = { role };
      const toPage = (rows: Record<string, unknown>[]) =>
        rows.map((row) => ({ account: String(row.account), target }));
      if (this.db.stream) {
        // An oid read from pg_roles just now: digits only, so it is inlined as a literal.
        if (!/^[0-9]+$/.test(id))
          throw this.fail(`role "${role}" has no usable oid`, { code: 'target_error' });
        const pages = this.db.stream(MEMBERS(id), pageSize);
        for (;;) {
          let next: IteratorResult<Record<string, unknown>[]>;
          try {
            next = await pages.next();
          } catch (e) {
            throw this.failure(e);
          }
          if (next.done) break;
          yield toPage(next.value);
        }
        continue;
      }
      let after = '';
      for (;;) {
        const rows = await this.run(PAGE, [id, after, pageSize]);
        if (rows.length > 0) yield toPage(rows);
        if (rows.length < pageSize) break;
        after = String(rows[rows.length - 1]!.account);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private parse(ref: AccessRef): { role: string; account: string } {
    const role = this.role(ref.target);
    this.checkName('account', ref.account);
    return { role, account: ref.account };
  }

  private role(target: Record<string, string>): string {
    const role = target.role;
    if (typeof role !== 'string' || role === '') {
      throw this.fail(`the target has no role (expected { role: "<name>" })`, {
        code: 'invalid_target',
        retryable: false,
      });
    }
    this.checkName('role', role);
    return role;
  }

  private checkName(what: string, name: string): void {
    const r = pgName.safeParse(name);
    if (!r.success) {
      const shown = typeof name === 'string' && !name.includes('\0') ? `"${name}"` : 'name';
      throw this.fail(`${what} ${shown} ${r.error.issues[0]?.message ?? 'is invalid'}`, {
        code: 'invalid_target',
        retryable: false,
      });
    }
  }

  private async existing(role: string, account: string): Promise<Set<string>> {
    const rows = await this.run(
      'SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2)',
      [role, account],
      { role, account },
    );
    return new Set(rows.map((r) => String(r.rolname)));
  }

  private async exec(text: string): Promise<void> {
    await this.run(text, [], undefined, [], true);
  }

  private async run(
    text: string,
    params: unknown[],
    about?: { role: string; account: string },
    tolerated: string[] = [],
    simple = false,
  ): Promise<Record<string, unknown>[]> {
    if (this.closed) throw this.fail('the connector is closed', { code: 'connector_closed' });
    try {
      if (simple) {
        await this.db.exec(text);
        return [];
      }
      return await this.db.query(text, params);
    } catch (e) {
      const err = e as { code?: unknown };
      if (typeof err.code === 'string' && tolerated.includes(err.code)) return [];
      throw this.failure(e, about);
    }
  }

  /** A driver's failure as the runtime needs it: classified, scrubbed, saying where. */
  private failure(e: unknown, about?: { role: string; account: string }): TargetError {
    const detail = this.scrub(e instanceof Error ? e.message : String(e));
    const c = classify(e);
    if (c.reach === 'timeout') {
      const limits = this.db.limits ? ` (${this.db.limits})` : '';
      return unreachableError(
        this.fail(
          `the target database at ${this.db.where} did not answer in time${limits}: ${detail}`,
          c,
          e,
        ),
      );
    }
    if (c.reach === 'unreachable') {
      return unreachableError(
        this.fail(`cannot reach the target database at ${this.db.where}: ${detail}`, c, e),
      );
    }
    const subject = about ? `role "${about.role}", account "${about.account}": ` : '';
    return this.fail(`${subject}${detail}`, c, e);
  }

  private scrub(message: string): string {
    return this.db.secrets.reduce((m, s) => m.split(s).join('***'), message);
  }

  private fail(
    message: string,
    how: { code: string; retryable?: boolean },
    cause?: unknown,
  ): TargetError {
    return new TargetError(`connector ${this.name}: ${message}`, {
      code: how.code,
      retryable: how.retryable ?? true,
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** Errors of not reaching the target at all: a batch that met one is not retried pair by pair. */
const unreachable = new WeakSet<TargetError>();
function unreachableError(e: TargetError): TargetError {
  unreachable.add(e);
  return e;
}

/**
 * SQLSTATE classes and codes (PostgreSQL appendix A) → what the runtime should do. A permanent
 * failure will not heal by waiting (a missing role, bad credentials, a privilege the connector's
 * login lacks); the rest is retried. First match wins.
 */
const SQLSTATES: [RegExp, Classified][] = [
  [/^57014$/, { code: 'target_timeout', retryable: true, reach: 'timeout' }], // statement_timeout
  [/^(42704|3D000)$/, { code: 'target_not_found', retryable: false }],
  [/^42501$/, { code: 'target_forbidden', retryable: false }],
  [/^28/, { code: 'target_auth_failed', retryable: false }],
  [/^(08|57P)/, { code: 'target_unavailable', retryable: true, reach: 'unreachable' }],
  [/^53/, { code: 'target_busy', retryable: true }], // 53300 too_many_connections, out of memory
  [/^(40001|40P01|55P03)$/, { code: 'target_conflict', retryable: true }],
  [/^(0A|22|23|2B|42|44)/, { code: 'target_rejected', retryable: false }],
];

/** What a failure from the driver means for the runtime. Unknown failures are retried. */
export function classify(e: unknown): Classified {
  const err = (e ?? {}) as { code?: unknown; severity?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  if (typeof err.severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    const hit = SQLSTATES.find(([re]) => re.test(code));
    return hit ? hit[1] : { code: 'target_error', retryable: true };
  }
  return transportFailure(code, String(err.message ?? e), /connect|terminated|socket|closed/i);
}

/** A string literal: our own text only (a verifier, a timestamp), quotes doubled all the same. */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, RFC 7677; as `libpq`'s
 * PQencryptPasswordConn makes it): `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  const b64 = (b: Buffer) => b.toString('base64');
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

/** Quoted, so any name is taken literally (case, spaces, quotes) and never parsed as SQL. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The URL a target's connections use: its own session `options`, then ours (see server). In
 * the URL, not beside it: node-postgres lets the connection string's parameters override the
 * pool's, so an `options` given beside a URL that has one would be dropped.
 */
export function targetConnectionString(u: URL): string {
  const withOurs = new URL(u);
  const own = u.searchParams.get('options');
  withOurs.searchParams.set('options', [own, '-c enable_seqscan=off'].filter(Boolean).join(' '));
  return withOurs.toString();
}

/** The membership look-ups, for the test that holds their plans to the indexes. */
export const MEMBERSHIP_LOOKUPS = (): Record<string, [string, unknown[]]> => ({
  held: [HELD, ['r', 'a']],
  held_many: [
    HELD_MANY,
    [
      ['r1', 'r2'],
      ['a1', 'a2'],
    ],
  ],
});

/**
 * A server target, every call bounded: `connect` seconds to connect and log in (a host that
 * accepts and never answers fails then), `statement` seconds per statement, enforced by the server
 * (statement_timeout, which also ends a wait on a lock) and, a second later, by the client, for a
 * server that stopped answering altogether.
 */
function server(
  connector: string,
  url: string,
  timeouts: { connect: number; statement: number; max: number },
): Backend {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    // The value may hold a password: say what is expected, not what was given.
  }
  if (!u || (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')) {
    throw new InputError(`connector ${connector}: url must be a postgres:// URL or "embedded"`, {
      code: 'invalid_connector_settings',
      field: 'url',
    });
  }
  const host = u.host || u.searchParams.get('host') || 'localhost';
  const secrets = [u.password, safeDecode(u.password)].filter((s) => s.length > 0);
  const pool = new pg.Pool({
    // Every statement of ours on a target is a catalog look-up meant for an index: a role's
    // memberships, one account's. The target's catalog statistics are not ours to keep (a server
    // without autovacuum, a catalog vacuumed while small) and, when they say a few rows, the
    // look-ups were planned as walks of pg_auth_members and pg_authid, one per check, as
    // provisioning added thousands (BENCHMARKS.md, 2026-12-06 night). Sequential scans stay
    // possible where nothing else is; they are only never preferred.
    connectionString: targetConnectionString(u),
    max: timeouts.max,
    connectionTimeoutMillis: timeouts.connect * 1000,
    statement_timeout: timeouts.statement * 1000,
    query_timeout: (timeouts.statement + 1) * 1000,
  });
  // An idle connection the server dropped: the next query opens a new one, so do not crash.
  pool.on('error', () => {});
  return {
    where: host,
    limits: `connect_timeout ${timeouts.connect}s, statement_timeout ${timeouts.statement}s`,
    secrets,
    exec: async (text) => {
      await withClient((client) => client.query(text));
    },
    query: async (text, params) =>
      withClient(
        async (client) => (await client.query<Record<string, unknown>>(text, params)).rows,
      ),
    stream,
    close: () => pool.end(),
  };
  async function* stream(text: string, size: number): AsyncGenerator<Record<string, unknown>[]> {
    const client = await pool.connect();
    let broken: Error | undefined;
    const lost = (e: Error) => {
      broken = e;
    };
    client.on('error', lost);
    let open = false;
    try {
      await client.query('BEGIN READ ONLY');
      open = true;
      await client.query(`DECLARE gatehouse_listing NO SCROLL CURSOR FOR ${text}`);
      for (;;) {
        const r = await client.query<Record<string, unknown>>(
          `FETCH FORWARD ${size} FROM gatehouse_listing`,
        );
        if (r.rows.length > 0) yield r.rows;
        if (r.rows.length < size) break;
      }
    } catch (e) {
      if (typeof (e as { severity?: unknown }).severity !== 'string') {
        broken = e instanceof Error ? e : new Error(String(e));
      }
      throw e;
    } finally {
      // Also when the reader stopped early: the connection goes back with no transaction open.
      if (open && !broken) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      client.off('error', lost);
      client.release(broken);
    }
  }
  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    // A connection lost while checked out is also emitted as an 'error' event, which the pool
    // only listens for on idle clients: unheard, it would crash the process.
    const lost = (e: Error) => {
      broken = e;
    };
    client.on('error', lost);
    try {
      return await fn(client);
    } catch (e) {
      // No answer from the server (a client-side timeout, a lost socket): the connection may
      // still carry the unanswered statement, so it is discarded, never reused.
      if (typeof (e as { severity?: unknown }).severity !== 'string') {
        broken = e instanceof Error ? e : new Error(String(e));
      }
      throw e;
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }
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
      { code: 'target_unavailable', cause: e },
    );
  }
  return {
    where: `the embedded target in ${dir}`,
    limits: '',
    secrets: [],
    query: async (text, params) => (await db.query<Record<string, unknown>>(text, params)).rows,
    exec: async (text) => {
      // PGlite's exec runs the statements as the simple query protocol does, in one transaction.
      await db.transaction((tx) => tx.exec(text));
    },
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
