/**
 * The one small interface every target implements (PRODUCT.md section 11): apply, revoke, read
 * back, list all. The core drives it through the job queue; adapters live in src/connectors, one
 * module per connector type (src/connectors/modules.ts), which also declares what the type can do.
 *
 * Failures are `TargetError`s (src/core/errors.ts) with a stable `code` and `retryable`: a role
 * that does not exist is permanent, a refused connection or a timeout is retried.
 */
export interface AccessRef {
  /** The account in the target: the identity's `account_attribute`, else the identity id. */
  account: string;
  /** The entitlement's target mapping from config, e.g. { role: "analytics_reader" }. */
  target: Record<string, string>;
}

export interface Assignment {
  account: string;
  target: Record<string, string>;
}

/** What a connector type can do; the runtime and reconciliation branch on these, never on the type. */
export interface ConnectorCapabilities {
  /** `listAll` reads the target's live assignments; without it, listing is a permanent error. */
  listsAssignments: boolean;
  /** It can issue credentials (keys, passwords) for the account it provisions. */
  issuesCredentials: boolean;
  /** It can say when an assignment was last used. */
  reportsLastUse: boolean;
  /** `apply` may answer `{ pending: true }`: a person or a remote workflow completes it later. */
  fulfilsAsynchronously: boolean;
}

/**
 * `apply` accepted the change but the target completes it later (a manual connector's ticket, a
 * remote workflow): the caller keeps the grant waiting and verifies it by `readBack` later.
 * `task` is the target's reference for the pending work, for people and the audit trail.
 * Only connectors declaring `fulfilsAsynchronously` answer it; the others resolve to nothing.
 */
export interface Pending {
  pending: true;
  task?: string;
  /**
   * For work people do: the group whose members fulfil it (the governance group when absent).
   * The core opens a fulfilment task for every pending change, in the job's outcome transaction.
   */
  fulfillers?: string;
  /** Seconds the fulfillers have before the task is overdue (its SLA). */
  dueInSeconds?: number;
  /** What the fulfiller reads: how to make the change in the target. */
  instructions?: string;
}

export type ApplyResult = void | Pending;

export interface ListOptions {
  /** The most assignments in one page; each connector has a default. */
  pageSize?: number;
}

/** The outcome of one change in a batch: each change succeeds or fails on its own. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface Connector {
  readonly name: string;
  readonly type: string;
  /** Declared by the connector's module; absent only on test doubles that wrap a connector. */
  readonly capabilities?: ConnectorCapabilities;
  /** Idempotent: applying access already present succeeds. Resolves to `Pending` if deferred. */
  apply(ref: AccessRef): Promise<ApplyResult>;
  /**
   * Idempotent: revoking absent access succeeds. Resolves to `Pending` where the removal is done
   * later by people (only types declaring `fulfilsAsynchronously`).
   */
  revoke(ref: AccessRef): Promise<ApplyResult>;
  /** Whether the target holds the access right now. */
  readBack(ref: AccessRef): Promise<boolean>;
  /**
   * Optional batch forms, for targets that take several changes in one round trip. Each answers
   * one outcome per ref, in order, exactly as the single call would have: a change that fails
   * fails alone (the others still succeed), with the same error the single call would throw.
   * The runtime uses them for jobs of one connector leased together; without them it calls the
   * single methods one by one (applyEach, revokeEach, readBackEach).
   */
  applyMany?(refs: readonly AccessRef[]): Promise<Settled<ApplyResult>[]>;
  revokeMany?(refs: readonly AccessRef[]): Promise<Settled<ApplyResult>[]>;
  readBackMany?(refs: readonly AccessRef[]): Promise<Settled<boolean>[]>;
  /**
   * Every assignment of the governed targets (those named by `targets`), a page at a time, so a
   * target with a million memberships never sits in memory at once. Without the
   * `listsAssignments` capability the first iteration throws a permanent TargetError
   * (`capability_unsupported`).
   *
   * **Order.** Assignments come in `compareAssignments` order, across pages: by target
   * (`compareTargets`), then by account, both compared as UTF-8 bytes (PostgreSQL's `COLLATE "C"`), each
   * pair once. Reconciliation merges this stream with the grants read in the same order, so it
   * needs no second copy of either side (src/core/reconcile/merge.ts); a listing out of order
   * fails that connector's reconciliation (`listing_unordered`) rather than report false drift.
   * Each `target` is the governed target as it was passed in.
   */
  listAll(targets: Record<string, string>[], opts?: ListOptions): AsyncIterable<Assignment[]>;
  /**
   * Makes `secret` the account's credential in the target, accepted until `validUntil` and not
   * after; any credential the account had before stops working. Only types declaring
   * `issuesCredentials` have it. The secret must not reach the target's logs in clear, nor any
   * error message.
   */
  issueCredential?(ref: AccessRef, credential: { secret: string; validUntil: Date }): Promise<void>;
  close(): Promise<void>;
}

/** Builds a connector from its config; `env` resolves ${VAR} references at the last moment. */
export type ConnectorFactory = (
  config: { name: string; type: string; settings: Record<string, unknown> },
  ctx: { env: NodeJS.ProcessEnv; dataDir: string },
) => Promise<Connector>;

export interface ConnectorSource {
  get(name: string): Promise<Connector>;
}

/**
 * Text in UTF-8 byte order, which is code point order and PostgreSQL's `COLLATE "C"`: the order
 * of listings and of the grants reconciliation merges them with. (JavaScript's `<` compares UTF-16
 * code units, which differs for characters beyond U+FFFF.)
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–U+DFFF) encode code points above U+FFFF: they sort after U+E000–U+FFFF.
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** One text per target mapping, independent of key order, for equality (not for ordering). */
export function targetKey(target: Record<string, string>): string {
  return JSON.stringify(entriesOf(target));
}

const entriesOf = (t: Record<string, string>) =>
  Object.entries(t).sort(([a], [b]) => compareText(a, b));

/**
 * The order of targets in a listing: their entries sorted by key, compared entry by entry (key,
 * then value, as UTF-8 bytes). For a one-key target such as `{ role }` this is the value's order.
 */
export function compareTargets(a: Record<string, string>, b: Record<string, string>): number {
  const x = entriesOf(a);
  const y = entriesOf(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareText(x[i]![0], y[i]![0]) || compareText(x[i]![1], y[i]![1]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** The order of `listAll`: by target (compareTargets), then by account, as UTF-8 bytes. */
export function compareAssignments(a: Assignment, b: Assignment): number {
  return compareTargets(a.target, b.target) || compareText(a.account, b.account);
}

/** Every page of a listing in one array: for tests and small targets, never for reconciliation. */
export async function collectAssignments(
  pages: AsyncIterable<Assignment[]>,
): Promise<Assignment[]> {
  const all: Assignment[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

async function each<T>(
  refs: readonly AccessRef[],
  one: (ref: AccessRef) => Promise<T>,
): Promise<Settled<T>[]> {
  const out: Settled<T>[] = [];
  for (const ref of refs) {
    try {
      out.push({ ok: true, value: await one(ref) });
    } catch (error) {
      out.push({ ok: false, error });
    }
  }
  return out;
}

/** Applies every ref, in one batch where the connector offers it, else one by one. */
export function applyEach(
  c: Connector,
  refs: readonly AccessRef[],
): Promise<Settled<ApplyResult>[]> {
  return c.applyMany ? c.applyMany(refs) : each(refs, (r) => c.apply(r));
}

export function revokeEach(
  c: Connector,
  refs: readonly AccessRef[],
): Promise<Settled<ApplyResult>[]> {
  return c.revokeMany ? c.revokeMany(refs) : each(refs, (r) => c.revoke(r));
}

export function readBackEach(
  c: Connector,
  refs: readonly AccessRef[],
): Promise<Settled<boolean>[]> {
  return c.readBackMany ? c.readBackMany(refs) : each(refs, (r) => c.readBack(r));
}
