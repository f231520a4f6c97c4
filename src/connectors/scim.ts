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
import { pageSizeOf } from './classify.js';
import { resolveSetting } from './env.js';
import { classifyStatus, classifyTransport, type Classified } from './scim-errors.js';
import { ScimClient, ScimHttpError, ScimTransportError } from './scim-http.js';
import { baseUrl, DEFAULT_MAX_RETRY_WAIT, settingsSchema, text } from './scim-settings.js';
import { fields } from './schema.js';
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_STATEMENT_TIMEOUT,
  parseSettings,
  type ConnectorModule,
} from './module.js';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
/** Governed groups per listing query, so the filter stays a reasonable size. */
const GROUPS_PER_QUERY = 20;
/** Groups per list page: each group carries all its members. */
const GROUPS_PER_PAGE = 10;
/** Member ids resolved to userNames per query. */
const IDS_PER_QUERY = 50;
/** userNames or displayNames of a batch looked up per query. */
const NAMES_PER_QUERY = 50;

/** A SCIM filter string literal (RFC 7644 3.4.2.2: a JSON string). */
const literal = (v: string) => JSON.stringify(v);

interface About {
  group: string;
  account: string;
}

/** A ref of a batch with its group's and user's ids, undefined where none exists. */
interface Resolved {
  index: number;
  about: About;
  group: string | undefined;
  user: string | undefined;
}

/** The outcome of a pair whose goal state already holds, or that has nothing to answer. */
const DONE: Settled<unknown> = { ok: true, value: undefined };

/** A ref of a batch whose group and user both exist, by their ids. */
interface Pair {
  index: number;
  about: About;
  group: string;
  user: string;
}

/** The single call's answer from a batch of one. */
function one<T>([s]: Settled<T>[]): T {
  if (!s!.ok) throw s!.error;
  return s!.value;
}

/**
 * Target type "scim": an entitlement `{ group: "gh-readers" }` is the membership of the user whose
 * `userName` is the account in the group whose `displayName` is the target's group, on a SCIM 2.0
 * service provider (RFC 7643/7644). Membership changes are PATCH add/remove on the group's
 * `members`; read back and listing read the group's members (ADR 0017).
 */
export const scimConnector: ConnectorFactory = async (config, ctx) => {
  const { name } = config;
  const s = parseSettings(settingsSchema, config);
  const base = baseUrl(name, resolveSetting(name, 'url', s.url, ctx.env));
  const token = resolveSetting(name, 'token', s.token, ctx.env);
  return new ScimConnector(name, {
    base,
    token,
    connect: s.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT,
    statement: s.statement_timeout ?? DEFAULT_STATEMENT_TIMEOUT,
    maxRetryWait: s.max_retry_wait ?? DEFAULT_MAX_RETRY_WAIT,
  });
};

export const scimModule: ConnectorModule = {
  type: 'scim',
  settings: settingsSchema,
  target: fields({ group: text }),
  capabilities: {
    listsAssignments: true,
    issuesCredentials: false,
    reportsLastUse: false,
    fulfilsAsynchronously: false,
  },
  create: scimConnector,
};

type Options = ConstructorParameters<typeof ScimClient>[0];

class ScimConnector implements Connector {
  readonly type = 'scim';
  readonly capabilities = scimModule.capabilities;
  private closed = false;
  private readonly client: ScimClient;

  constructor(
    readonly name: string,
    private readonly o: Options,
  ) {
    this.client = new ScimClient(o);
  }

  async apply(ref: AccessRef): Promise<ApplyResult> {
    return one(await this.applyMany([ref]));
  }

  async revoke(ref: AccessRef): Promise<void> {
    return one(await this.revokeMany([ref]));
  }

  async readBack(ref: AccessRef): Promise<boolean> {
    return one(await this.readBackMany([ref]));
  }

  /**
   * One PATCH per group adds all the batch's users of that group. If it fails with a refusal,
   * each pair is tried alone, so only the pair at fault fails; if the provider cannot be reached
   * or asks to wait, every pair of the group fails with that error without being asked again.
   */
  async applyMany(refs: readonly AccessRef[]): Promise<Settled<ApplyResult>[]> {
    const { out, byGroup } = await this.resolve(refs, (r) => {
      if (r.group === undefined) return { ok: false, error: this.groupMissing(r.about) };
      if (r.user === undefined) return { ok: false, error: this.accountMissing(r.about) };
      return undefined;
    });
    for (const [group, pairs] of byGroup) {
      // RFC 7644 3.5.2.1: adding a value already present changes nothing and succeeds.
      const add = (users: string[]) =>
        this.patch(group, {
          op: 'add',
          path: 'members',
          value: users.map((value) => ({ value })),
        });
      await this.settleGroup(pairs, out, add, (e, about) =>
        e instanceof ScimHttpError && e.status === 404
          ? { ok: false, error: this.groupMissing(about) }
          : undefined,
      );
    }
    return out as Settled<ApplyResult>[];
  }

  /** One PATCH per group removes all the batch's users of that group, one operation each. */
  async revokeMany(refs: readonly AccessRef[]): Promise<Settled<void>[]> {
    // A group or a user that does not exist holds no membership: the goal state holds.
    const { out, byGroup } = await this.resolve(refs, (r) =>
      r.group === undefined || r.user === undefined ? DONE : undefined,
    );
    for (const [group, pairs] of byGroup) {
      const remove = (users: string[]) =>
        this.client.send('PATCH', `/Groups/${encodeURIComponent(group)}`, undefined, {
          schemas: [PATCH_OP],
          Operations: users.map((u) => ({ op: 'remove', path: `members[value eq ${literal(u)}]` })),
        });
      // 404: the group is gone; 400 noTarget: the filter matched no member (RFC 7644 3.5.2).
      await this.settleGroup(pairs, out, remove, (e) =>
        e instanceof ScimHttpError && (e.status === 404 || e.scimType === 'noTarget')
          ? DONE
          : undefined,
      );
    }
    return out as Settled<void>[];
  }

  /** One read of each group's members answers every pair of the batch in that group. */
  async readBackMany(refs: readonly AccessRef[]): Promise<Settled<boolean>[]> {
    const { out, byGroup } = await this.resolve(refs, (r) =>
      r.group === undefined || r.user === undefined ? { ok: true, value: false } : undefined,
    );
    for (const [group, pairs] of byGroup) {
      try {
        const body = await this.client.send('GET', `/Groups/${encodeURIComponent(group)}`, {
          attributes: 'members.value',
        });
        const members = new Set(memberIds(body));
        for (const p of pairs) out[p.index] = { ok: true, value: members.has(p.user) };
      } catch (e) {
        for (const p of pairs) {
          out[p.index] =
            e instanceof ScimHttpError && e.status === 404
              ? { ok: true, value: false }
              : { ok: false, error: this.translate(e, p.about) };
        }
      }
    }
    return out as Settled<boolean>[];
  }

  /**
   * The governed groups' members: the groups are listed by a displayName filter (20 names a
   * query, 10 groups a page), each group's member ids are resolved to userNames by an id filter
   * (50 a query), and each group's accounts are yielded sorted, in pages of the asked size. A
   * member that is no user (a nested group, a dangling id) is listed by its id, so that
   * reconciliation sees it rather than missing it.
   */
  async *listAll(
    targets: Record<string, string>[],
    opts: ListOptions = {},
  ): AsyncGenerator<Assignment[]> {
    const pageSize = pageSizeOf(this.name, opts);
    // The port's order (target, then account, as UTF-8 bytes): groups are asked for in that
    // order, a query's groups are held until all its pages are in, then given out in order.
    const wanted = [...new Set(targets.map((t) => this.group(t)))].sort(compareText);
    this.open();
    try {
      for (let i = 0; i < wanted.length; i += GROUPS_PER_QUERY) {
        const batch = wanted.slice(i, i + GROUPS_PER_QUERY);
        const filter = batch.map((g) => `displayName eq ${literal(g)}`).join(' or ');
        const pages = this.client.pages(
          '/Groups',
          { filter, attributes: 'displayName,members.value' },
          Math.min(pageSize, GROUPS_PER_PAGE),
        );
        const found = new Map<string, string[]>();
        for await (const page of pages) {
          for (const entry of page) {
            const displayName = typeof entry.displayName === 'string' ? entry.displayName : '';
            const matches = batch.filter((g) => sameName(g, displayName));
            if (matches.length === 0) continue;
            const accounts = await this.userNames(memberIds(entry));
            for (const group of matches) found.set(group, accounts);
          }
        }
        for (const group of batch) {
          const accounts = [...(found.get(group) ?? [])].sort(compareText);
          const target = { group };
          for (let j = 0; j < accounts.length; j += pageSize) {
            yield accounts.slice(j, j + pageSize).map((account) => ({ account, target }));
          }
        }
      }
    } catch (e) {
      throw this.translate(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close().catch(() => undefined);
  }

  /** The target's group and the account, checked. */
  private about(ref: AccessRef): About {
    const group = this.group(ref.target);
    if (ref.account === '' || ref.account.includes('\0')) {
      throw this.fail('the account is empty or holds a NUL character', {
        code: 'invalid_target',
        retryable: false,
      });
    }
    return { group, account: ref.account };
  }

  private group(target: Record<string, string>): string {
    const group = target.group;
    if (typeof group !== 'string' || group.trim() === '') {
      throw this.fail('the target has no group (expected { group: "<displayName>" })', {
        code: 'invalid_target',
        retryable: false,
      });
    }
    return group;
  }

  /**
   * Every ref's group and user ids, looked up once per distinct name (groups and users in
   * parallel). `decide` settles a pair without a PATCH (an error, or a goal state already held);
   * the others are grouped by the group's id. Each failure is the one the single call would give.
   */
  private async resolve(
    refs: readonly AccessRef[],
    decide: (r: Resolved) => Settled<unknown> | undefined,
  ): Promise<{ out: Settled<unknown>[]; byGroup: Map<string, Pair[]> }> {
    const out: Settled<unknown>[] = new Array(refs.length);
    const byGroup = new Map<string, Pair[]>();
    const abouts: (About | undefined)[] = refs.map((ref, i) => {
      try {
        this.open();
        return this.about(ref);
      } catch (error) {
        out[i] = { ok: false, error };
        return undefined;
      }
    });
    const present = abouts.filter((a): a is About => a !== undefined);
    const [groups, users] = await Promise.all([
      this.lookup('/Groups', 'displayName', [...new Set(present.map((a) => a.group))]),
      this.lookup('/Users', 'userName', [...new Set(present.map((a) => a.account))]),
    ]);
    abouts.forEach((about, index) => {
      if (about === undefined) return;
      const group = groups.get(about.group)!;
      const user = users.get(about.account)!;
      if (!group.ok) {
        out[index] = { ok: false, error: this.translate(group.error, about) };
        return;
      }
      if (!user.ok) {
        out[index] = { ok: false, error: this.translate(user.error, about) };
        return;
      }
      const resolved = { index, about, group: group.value, user: user.value };
      const decided = decide(resolved);
      if (decided !== undefined) {
        out[index] = decided;
        return;
      }
      const pairs = byGroup.get(resolved.group!) ?? [];
      pairs.push(resolved as Pair);
      byGroup.set(resolved.group!, pairs);
    });
    return { out, byGroup };
  }

  /**
   * One request for all pairs of a group; if it fails, what `settled` makes of the error for each
   * pair (a goal state, or a clearer error). A refusal is then tried pair by pair, so only the
   * pair at fault fails; a provider that cannot be reached or asks to wait fails them all.
   */
  private async settleGroup(
    pairs: Pair[],
    out: Settled<unknown>[],
    send: (users: string[]) => Promise<unknown>,
    settled: (e: unknown, about: About) => Settled<unknown> | undefined,
  ): Promise<void> {
    const outcome = (e: unknown, about: About): Settled<unknown> =>
      settled(e, about) ?? { ok: false, error: this.translate(e, about) };
    try {
      await send([...new Set(pairs.map((p) => p.user))]);
      for (const p of pairs) out[p.index] = { ok: true, value: undefined };
      return;
    } catch (e) {
      const alone = pairs.length > 1 && !this.translate(e).retryable;
      if (!alone) {
        for (const p of pairs) out[p.index] = outcome(e, p.about);
        return;
      }
    }
    for (const p of pairs) {
      try {
        await send([p.user]);
        out[p.index] = { ok: true, value: undefined };
      } catch (e) {
        out[p.index] = outcome(e, p.about);
      }
    }
  }

  /**
   * The one id each name stands for (undefined when none), or the error of looking it up: one
   * name alone by `find`, several by an `or` of `eq` filters, 50 a query.
   */
  private async lookup(
    path: string,
    attribute: string,
    values: string[],
  ): Promise<Map<string, Settled<string | undefined>>> {
    const out = new Map<string, Settled<string | undefined>>();
    const queries: Promise<void>[] = [];
    for (let i = 0; i < values.length; i += NAMES_PER_QUERY) {
      const chunk = values.slice(i, i + NAMES_PER_QUERY);
      const query = (
        chunk.length === 1
          ? this.find(path, attribute, chunk[0]!).then((ids) => new Map([[chunk[0]!, ids]]))
          : this.findMany(path, attribute, chunk)
      ).then(
        (found) => {
          for (const v of chunk) {
            const ids = found.get(v) ?? [];
            out.set(
              v,
              ids.length > 1
                ? { ok: false, error: this.ambiguous(attribute, v) }
                : { ok: true, value: ids[0] },
            );
          }
        },
        (error: unknown) => {
          for (const v of chunk) out.set(v, { ok: false, error });
        },
      );
      queries.push(query);
    }
    await Promise.all(queries);
    return out;
  }

  /**
   * The ids of each value's resources, by an `or` of `eq` filters. More resources than twice the
   * values means the provider ignored the filter: refused rather than paged through.
   */
  private async findMany(
    path: string,
    attribute: string,
    values: string[],
  ): Promise<Map<string, string[]>> {
    const found = new Map(values.map((v) => [v, [] as string[]]));
    const filter = values.map((v) => `${attribute} eq ${literal(v)}`).join(' or ');
    const limit = values.length * 2;
    let seen = 0;
    for await (const page of this.client.pages(path, { filter, attributes: attribute }, limit)) {
      seen += page.length;
      if (seen > limit) throw this.unfiltered(path, attribute, seen, filter);
      for (const r of page) {
        const v = r[attribute];
        if (typeof r.id !== 'string' || typeof v !== 'string') continue;
        for (const value of values) if (sameName(v, value)) found.get(value)!.push(r.id);
      }
    }
    return found;
  }

  /**
   * Ids of the resources whose attribute equals the value, from the first page of an `eq` filter
   * (two are enough to tell one from several). Both attributes are case-insensitive (RFC 7643
   * 4.1.1, 4.2), so the provider may answer another case; what it answers is compared again, so a
   * provider that ignores the filter cannot hand back the wrong resource, and is refused rather
   * than paged through to the end of its directory.
   */
  private async find(path: string, attribute: string, value: string): Promise<string[]> {
    const body = await this.client.send('GET', path, {
      filter: `${attribute} eq ${literal(value)}`,
      attributes: attribute,
      startIndex: 1,
      count: 2,
    });
    const list = body as { totalResults?: unknown; Resources?: unknown } | undefined;
    const resources = Array.isArray(list?.Resources)
      ? (list.Resources as Record<string, unknown>[])
      : [];
    const ids = resources
      .filter((r) => typeof r.id === 'string' && typeof r[attribute] === 'string')
      .filter((r) => sameName(r[attribute] as string, value))
      .map((r) => r.id as string);
    const total = typeof list?.totalResults === 'number' ? list.totalResults : resources.length;
    if (ids.length === 0 && total > resources.length) {
      throw this.unfiltered(path, attribute, total, `${attribute} eq ${literal(value)}`);
    }
    return ids;
  }

  /** The userNames of member ids, in queries of 50; an id that is no user stays as it is. */
  private async userNames(ids: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + IDS_PER_QUERY);
      const wanted = new Set(chunk);
      const names = new Map<string, string>();
      const filter = chunk.map((id) => `id eq ${literal(id)}`).join(' or ');
      const pages = this.client.pages('/Users', { filter, attributes: 'userName' }, chunk.length);
      for await (const page of pages) {
        for (const r of page) {
          if (typeof r.id === 'string' && wanted.has(r.id) && typeof r.userName === 'string') {
            names.set(r.id, r.userName);
          }
        }
        // A provider that ignores the filter is not paged through to the end of its directory.
        if (chunk.every((id) => names.has(id))) break;
      }
      for (const id of chunk) out.push(names.get(id) ?? id);
    }
    return out;
  }

  private async patch(group: string, operation: Record<string, unknown>): Promise<void> {
    await this.client.send('PATCH', `/Groups/${encodeURIComponent(group)}`, undefined, {
      schemas: [PATCH_OP],
      Operations: [operation],
    });
  }

  private unfiltered(path: string, attribute: string, total: number, filter: string): TargetError {
    return this.fail(
      `GET ${path}: the provider does not filter by ${attribute} (it answered ${total} resources for ${filter.length > 200 ? `${filter.slice(0, 200)}…` : filter})`,
      { code: 'target_rejected', retryable: false },
    );
  }

  private ambiguous(attribute: string, value: string): TargetError {
    return attribute === 'userName'
      ? this.fail(`account "${value}": more than one user has that userName`, {
          code: 'account_ambiguous',
          retryable: false,
        })
      : this.fail(`group "${value}": more than one group has that displayName`, {
          code: 'target_ambiguous',
          retryable: false,
        });
  }

  private accountMissing(about: About): TargetError {
    return this.fail(
      `account "${about.account}" has no user with that userName (granting "${about.group}"); Gatehouse does not create SCIM users`,
      { code: 'account_not_found', retryable: false },
    );
  }

  private groupMissing(about: About): TargetError {
    return this.fail(
      `group "${about.group}" does not exist (no group has that displayName; granting it to "${about.account}")`,
      { code: 'target_not_found', retryable: false },
    );
  }

  private open(): void {
    if (this.closed) throw this.fail('the connector is closed', { code: 'connector_closed' });
  }

  private translate(e: unknown, about?: About): TargetError {
    if (e instanceof TargetError || e instanceof InputError) return e as TargetError;
    const subject = about ? `group "${about.group}", account "${about.account}": ` : '';
    const limits = `connect_timeout ${this.o.connect}s, statement_timeout ${this.o.statement}s`;
    if (e instanceof ScimTransportError) {
      const c = classifyTransport(e.cause);
      const detail = this.scrub(e.message);
      if (c.reach === 'timeout') {
        return this.fail(
          `${subject}${this.where} did not answer in time (${limits}): ${detail}`,
          c,
          e,
        );
      }
      if (c.code === 'target_tls_failed') {
        return this.fail(`${subject}TLS with ${this.where} failed: ${detail}`, c, e);
      }
      return this.fail(`${subject}cannot reach ${this.where}: ${detail}`, c, e);
    }
    if (e instanceof ScimHttpError) {
      const c: Classified & { retryAfterSeconds?: number } = { ...classifyStatus(e.status) };
      if (e.retryAfter !== undefined && c.retryable) c.retryAfterSeconds = e.retryAfter;
      let why = this.scrub(e.message);
      if (e.status === 401) why = `the provider refused the token (${why})`;
      if (e.status === 429) {
        why = `the provider is throttling requests (${why})${e.retryAfter === undefined ? '' : `; retry after ${e.retryAfter}s`}`;
      }
      return this.fail(`${subject}${why}`, c, e);
    }
    const detail = this.scrub(e instanceof Error ? e.message : String(e));
    return this.fail(`${subject}${detail}`, { code: 'target_error', retryable: true }, e);
  }

  private get where(): string {
    return `the SCIM service at ${this.o.base}`;
  }

  private scrub(message: string): string {
    return this.o.token ? message.split(this.o.token).join('***') : message;
  }

  private fail(
    message: string,
    how: { code: string; retryable?: boolean; retryAfterSeconds?: number },
    cause?: unknown,
  ): TargetError {
    return new TargetError(`connector ${this.name}: ${message}`, {
      code: how.code,
      retryable: how.retryable ?? true,
      ...(how.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: how.retryAfterSeconds }),
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** userName and displayName compare without case (RFC 7643: caseExact false). */
function sameName(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

/** The member ids of a group resource. */
function memberIds(body: unknown): string[] {
  const members = (body as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) return [];
  return members
    .map((m) => (m as { value?: unknown } | null)?.value)
    .filter((v): v is string => typeof v === 'string');
}
