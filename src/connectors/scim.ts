import type {
  AccessRef,
  ApplyResult,
  Assignment,
  Connector,
  ConnectorFactory,
  ListOptions,
} from '../core/ports/connector.js';
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

/** A SCIM filter string literal (RFC 7644 3.4.2.2: a JSON string). */
const literal = (v: string) => JSON.stringify(v);

interface About {
  group: string;
  account: string;
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
    const about = this.about(ref);
    await this.call(about, async () => {
      const [group, user] = await Promise.all([
        this.groupId(about.group),
        this.userId(about.account),
      ]);
      if (group === undefined) throw this.groupMissing(about);
      if (user === undefined) {
        throw this.fail(
          `account "${about.account}" has no user with that userName (granting "${about.group}"); Gatehouse does not create SCIM users`,
          { code: 'account_not_found', retryable: false },
        );
      }
      try {
        // RFC 7644 3.5.2.1: adding a value already present changes nothing and succeeds.
        await this.patch(group, { op: 'add', path: 'members', value: [{ value: user }] });
      } catch (e) {
        if (e instanceof ScimHttpError && e.status === 404) throw this.groupMissing(about);
        throw e;
      }
    });
  }

  async revoke(ref: AccessRef): Promise<void> {
    const about = this.about(ref);
    await this.call(about, async () => {
      const [group, user] = await Promise.all([
        this.groupId(about.group),
        this.userId(about.account),
      ]);
      // A group or a user that does not exist holds no membership: the goal state holds.
      if (group === undefined || user === undefined) return;
      try {
        await this.patch(group, { op: 'remove', path: `members[value eq ${literal(user)}]` });
      } catch (e) {
        // 404: the group is gone; 400 noTarget: the filter matched no member (RFC 7644 3.5.2).
        if (e instanceof ScimHttpError && (e.status === 404 || e.scimType === 'noTarget')) return;
        throw e;
      }
    });
  }

  async readBack(ref: AccessRef): Promise<boolean> {
    const about = this.about(ref);
    return this.call(about, async () => {
      const [group, user] = await Promise.all([
        this.groupId(about.group),
        this.userId(about.account),
      ]);
      if (group === undefined || user === undefined) return false;
      try {
        const body = await this.client.send('GET', `/Groups/${encodeURIComponent(group)}`, {
          attributes: 'members.value',
        });
        return memberIds(body).includes(user);
      } catch (e) {
        if (e instanceof ScimHttpError && e.status === 404) return false;
        throw e;
      }
    });
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
    const wanted = [...new Set(targets.map((t) => this.group(t)))];
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
        for await (const page of pages) {
          for (const entry of page) {
            const displayName = typeof entry.displayName === 'string' ? entry.displayName : '';
            const matches = batch.filter((g) => sameName(g, displayName));
            if (matches.length === 0) continue;
            const accounts = await this.userNames(memberIds(entry));
            accounts.sort();
            for (const group of matches) {
              const target = { group };
              for (let j = 0; j < accounts.length; j += pageSize) {
                yield accounts.slice(j, j + pageSize).map((account) => ({ account, target }));
              }
            }
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

  /** The id of the one group with that displayName; undefined when there is none. */
  private async groupId(displayName: string): Promise<string | undefined> {
    const found = await this.find('/Groups', 'displayName', displayName);
    if (found.length > 1) {
      throw this.fail(`group "${displayName}": more than one group has that displayName`, {
        code: 'target_ambiguous',
        retryable: false,
      });
    }
    return found[0];
  }

  /** The id of the one user with that userName; undefined when there is none. */
  private async userId(userName: string): Promise<string | undefined> {
    const found = await this.find('/Users', 'userName', userName);
    if (found.length > 1) {
      throw this.fail(`account "${userName}": more than one user has that userName`, {
        code: 'account_ambiguous',
        retryable: false,
      });
    }
    return found[0];
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
      throw this.fail(
        `GET ${path}: the provider does not filter by ${attribute} (it answered ${total} resources for ${attribute} eq ${literal(value)})`,
        { code: 'target_rejected', retryable: false },
      );
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

  private groupMissing(about: About): TargetError {
    return this.fail(
      `group "${about.group}" does not exist (no group has that displayName; granting it to "${about.account}")`,
      { code: 'target_not_found', retryable: false },
    );
  }

  private open(): void {
    if (this.closed) throw this.fail('the connector is closed', { code: 'connector_closed' });
  }

  /** One call's requests, failures translated into TargetErrors naming the group and account. */
  private async call<T>(about: About, fn: () => Promise<T>): Promise<T> {
    this.open();
    try {
      return await fn();
    } catch (e) {
      throw this.translate(e, about);
    }
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
