import type { ConnectionOptions } from 'node:tls';
import {
  AndFilter,
  Attribute,
  Change,
  Client,
  EqualityFilter,
  OrFilter,
  type Entry,
  type Filter,
} from 'ldapts';
import type {
  AccessRef,
  ApplyResult,
  Assignment,
  Connector,
  ConnectorFactory,
  ListOptions,
} from '../core/ports/connector.js';
import { compareText } from '../core/ports/connector.js';
import { InputError, TargetError } from '../core/errors.js';
import { pageSizeOf } from './classify.js';
import { resolveSetting } from './env.js';
import { dnTemplate, isUnder, normalizeDn, parseDn, type DnTemplate } from './ldap-dn.js';
import { classify } from './ldap-errors.js';
import { settingsSchema, text, tlsOptions } from './ldap-settings.js';
import { fields } from './schema.js';
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_STATEMENT_TIMEOUT,
  parseSettings,
  type ConnectorModule,
} from './module.js';

/** Large enough that a listing is few round trips, small enough that a page is cheap to hold. */
/** Groups per search page: each group entry carries all its members. */
const GROUPS_PER_PAGE = 10;
/** Governed groups per listing search, so the filter stays a reasonable size. */
const GROUPS_PER_SEARCH = 100;

type Style = 'member' | 'memberUid';
const CLASS: Record<Style, string> = { member: 'groupOfNames', memberUid: 'posixGroup' };

/** How an account's entry is found: by a DN template, or by a search on one attribute. */
type AccountLookup = { template: DnTemplate } | { attribute: string; base: string };

interface Options {
  url: string;
  bindDn: string;
  password: string;
  base: string;
  style: Style;
  accounts: AccountLookup;
  placeholder: string;
  startTls: boolean;
  tls: ConnectionOptions | undefined;
  connect: number;
  statement: number;
}

/**
 * Target type "ldap": an entitlement `{ group: "cn=wiki-readers,ou=groups,dc=acme,dc=test" }` (or
 * the group's cn alone) is the account's membership of that group, as a `member` DN of a
 * groupOfNames or a `memberUid` of a posixGroup. Every call opens its own connection, binds, and
 * unbinds (ADR 0013).
 */
export const ldapConnector: ConnectorFactory = async (config, ctx) => {
  const { name } = config;
  const s = parseSettings(settingsSchema, config);
  const url = resolveSetting(name, 'url', s.url, ctx.env);
  if (!/^ldaps?:\/\/[^/?#\s]+\/?$/i.test(url)) {
    // The value came from the environment: say what is expected, not what was given.
    throw new InputError(`connector ${name}: url must be an ldap:// or ldaps:// URL`, {
      code: 'invalid_connector_settings',
      field: 'url',
    });
  }
  const secure = /^ldaps:/i.test(url);
  if (secure && s.start_tls) {
    throw new InputError(`connector ${name}: start_tls is for ldap:// URLs, not ldaps://`, {
      code: 'invalid_connector_settings',
      field: 'start_tls',
    });
  }
  const base = resolveSetting(name, 'base_dn', s.base_dn, ctx.env);
  const template = s.account_dn === undefined ? undefined : dnTemplate(s.account_dn);
  const accounts: AccountLookup = template
    ? { template }
    : {
        attribute: s.account_search?.attribute ?? 'uid',
        base: s.account_search?.base_dn ?? base,
      };
  return new LdapConnector(name, {
    url: url.replace(/\/$/, ''),
    bindDn: resolveSetting(name, 'bind_dn', s.bind_dn, ctx.env),
    password: resolveSetting(name, 'bind_password', s.bind_password, ctx.env),
    base,
    style: s.membership ?? 'member',
    accounts,
    placeholder: s.placeholder_member ?? '',
    startTls: s.start_tls ?? false,
    tls: secure || s.start_tls ? tlsOptions(name, url, s.tls) : undefined,
    connect: s.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT,
    statement: s.statement_timeout ?? DEFAULT_STATEMENT_TIMEOUT,
  });
};

export const ldapModule: ConnectorModule = {
  type: 'ldap',
  settings: settingsSchema,
  target: fields({
    group: text.refine(
      (v) => !v.includes('=') || parseDn(v) !== undefined,
      "must be a group's DN or its cn",
    ),
  }),
  capabilities: {
    listsAssignments: true,
    issuesCredentials: false,
    reportsLastUse: false,
    fulfilsAsynchronously: false,
  },
  // A DN's attribute types and values compare without case, as a cn under the groups base does.
  assignmentKey: (t) => {
    const g = t.group ?? '';
    return g.includes('=') ? (normalizeDn(g) ?? g) : `cn=${g.toLowerCase()}`;
  },
  create: ldapConnector,
};

const eq = (attribute: string, value: string) => new EqualityFilter({ attribute, value });
const values = (v: Entry[string] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => x.toString());
/** A search-result code the server answers for a base that does not exist. */
const NO_SUCH_OBJECT = 32;
/** The LDAP result code of a failure that has one. */
const code = (e: unknown) => (e as { code?: unknown })?.code;
/** An attribute of an entry, whatever case the server spelt its name in. */
const valuesOf = (entry: Entry, name: string) =>
  values(
    entry[name] ??
      entry[Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase()) ?? ''],
  );

class LdapConnector implements Connector {
  readonly type = 'ldap';
  readonly capabilities = ldapModule.capabilities;
  private closed = false;
  private readonly open = new Set<Client>();

  constructor(
    readonly name: string,
    private readonly o: Options,
  ) {}

  async apply(ref: AccessRef): Promise<ApplyResult> {
    const group = this.group(ref.target);
    const about = { group, account: ref.account };
    await this.session(about, async (c) => {
      const [dn, value] = await Promise.all([
        this.groupDn(c, group, about, 'granting'),
        this.memberValue(c, ref.account, about, true),
      ]);
      try {
        await c.modify(dn!, change('add', this.attribute, value!));
      } catch (e) {
        // 20 typeOrValueExists: already a member, which is the goal.
        if (code(e) !== 20) throw e;
      }
    });
  }

  async revoke(ref: AccessRef): Promise<void> {
    const group = this.group(ref.target);
    const about = { group, account: ref.account };
    await this.session(about, async (c) => {
      const [dn, value] = await Promise.all([
        this.groupDn(c, group, about, 'revoking'),
        this.memberValue(c, ref.account, about, false),
      ]);
      // A group or account that does not exist holds no membership: the goal state holds.
      if (dn === undefined || value === undefined) return;
      try {
        await c.modify(dn, change('delete', this.attribute, value));
      } catch (e) {
        if (code(e) === 16 || code(e) === NO_SUCH_OBJECT) return; // no such value, or group
        if (code(e) !== 65 || this.o.style !== 'member') throw e;
        // 65 objectClassViolation: groupOfNames must keep a member. The placeholder takes the
        // last one's place in the same modification, so the group is never left empty.
        await c.modify(dn, [
          change('add', 'member', this.o.placeholder),
          change('delete', 'member', value),
        ]);
      }
    });
  }

  async readBack(ref: AccessRef): Promise<boolean> {
    const group = this.group(ref.target);
    const about = { group, account: ref.account };
    return this.session(about, async (c) => {
      const value = await this.memberValue(c, ref.account, about, false);
      if (value === undefined) return false;
      const found = await this.findGroups(c, group, eq(this.attribute, value));
      return found.length > 0;
    });
  }

  async *listAll(
    targets: Record<string, string>[],
    opts: ListOptions = {},
  ): AsyncGenerator<Assignment[]> {
    const pageSize = pageSizeOf(this.name, opts);
    // In the port's order: groups as given, by name, then accounts, as UTF-8 bytes. A search
    // answers its groups in any order, so one search's groups are held until it ends (a group
    // entry carries all its members anyway) and yielded in order.
    const wanted = [...new Set(targets.map((t) => this.group(t)))].sort(compareText);
    if (wanted.length === 0) return;
    const c = await this.connect();
    try {
      const cache = new Map<string, string | undefined>();
      for (let i = 0; i < wanted.length; i += GROUPS_PER_SEARCH) {
        const batch = wanted.slice(i, i + GROUPS_PER_SEARCH);
        const members = new Map<string, Set<string>>();
        const pages = c.searchPaginated(this.o.base, {
          scope: 'sub',
          filter: new AndFilter({
            filters: [eq('objectClass', this.objectClass), this.groupsFilter(batch)],
          }),
          attributes: ['cn', this.attribute],
          paged: { pageSize: Math.min(pageSize, GROUPS_PER_PAGE) },
          timeLimit: this.o.statement,
        });
        for await (const page of pages) {
          for (const entry of page.searchEntries) {
            const matches = batch.filter((g) => this.names(entry, g));
            if (matches.length === 0) continue;
            const accounts = await this.accountsOf(c, valuesOf(entry, this.attribute), cache);
            for (const group of matches) {
              const held = members.get(group) ?? new Set<string>();
              for (const a of accounts) held.add(a);
              members.set(group, held);
            }
          }
        }
        for (const group of batch) {
          const accounts = [...(members.get(group) ?? [])].sort(compareText);
          const target = { group };
          for (let j = 0; j < accounts.length; j += pageSize) {
            yield accounts.slice(j, j + pageSize).map((account) => ({ account, target }));
          }
        }
      }
    } catch (e) {
      throw this.translate(e);
    } finally {
      await this.release(c);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.open].map((c) => this.release(c)));
  }

  private get attribute(): Style {
    return this.o.style;
  }

  private get objectClass(): string {
    return CLASS[this.o.style];
  }

  /** The target's group: a DN beneath base_dn, or a cn looked up beneath it. */
  private group(target: Record<string, string>): string {
    const group = target.group;
    if (typeof group !== 'string' || group.trim() === '') {
      throw this.fail('the target has no group (expected { group: "<DN or cn>" })', {
        code: 'invalid_target',
        retryable: false,
      });
    }
    if (group.includes('=')) {
      if (parseDn(group) === undefined) {
        throw this.fail(`group "${group}" is not a valid DN`, {
          code: 'invalid_target',
          retryable: false,
        });
      }
      if (!isUnder(group, this.o.base)) {
        throw this.fail(`group "${group}" is not beneath base_dn "${this.o.base}"`, {
          code: 'invalid_target',
          retryable: false,
        });
      }
    }
    return group;
  }

  /** Whether a listed group entry is the one a target names. */
  private names(entry: Entry, group: string): boolean {
    if (group.includes('=')) return normalizeDn(entry.dn) === normalizeDn(group);
    const wanted = group.toLowerCase();
    return valuesOf(entry, 'cn').some((cn) => cn.toLowerCase() === wanted);
  }

  /** A filter matching the governed groups of a batch, by DN's first value or by cn. */
  private groupsFilter(groups: string[]): Filter {
    const filters = groups.map((g) => {
      if (!g.includes('=')) return eq('cn', g);
      const first = parseDn(g)![0]!;
      return first.length === 1
        ? eq(first[0]!.type, first[0]!.value)
        : new AndFilter({ filters: first.map((a) => eq(a.type, a.value)) });
    });
    return filters.length === 1 ? filters[0]! : new OrFilter({ filters });
  }

  /** Group entries a target names, narrowed by `also`; a missing DN is no entry. */
  private async findGroups(c: Client, group: string, also?: Filter): Promise<Entry[]> {
    const filters = [eq('objectClass', this.objectClass), ...(also ? [also] : [])];
    const byDn = group.includes('=');
    try {
      const r = await c.search(byDn ? group : this.o.base, {
        scope: byDn ? 'base' : 'sub',
        filter: new AndFilter({ filters: byDn ? filters : [...filters, eq('cn', group)] }),
        attributes: ['1.1'],
        sizeLimit: 2,
        timeLimit: this.o.statement,
      });
      return r.searchEntries;
    } catch (e) {
      if (code(e) === NO_SUCH_OBJECT) return [];
      throw e;
    }
  }

  /**
   * The DN of the target's group. A DN is taken as written (the modification itself says when it
   * does not exist); a cn must name exactly one group of the membership style's class.
   */
  private async groupDn(
    c: Client,
    group: string,
    about: { group: string; account: string },
    doing: 'granting' | 'revoking',
  ): Promise<string | undefined> {
    if (group.includes('=')) return group;
    const found = await this.findGroups(c, group);
    if (found.length > 1) {
      throw this.fail(
        `group "${group}": more than one ${this.objectClass} beneath ${this.o.base} has that cn; name it by its DN`,
        { code: 'target_ambiguous', retryable: false },
      );
    }
    if (found.length === 0 && doing === 'granting') {
      throw this.notFound(about);
    }
    return found[0]?.dn;
  }

  private notFound(about: { group: string; account: string }): TargetError {
    return this.fail(
      `group "${about.group}" does not exist as a ${this.objectClass} beneath ${this.o.base} (granting it to "${about.account}")`,
      { code: 'target_not_found', retryable: false },
    );
  }

  /**
   * The value that makes the account a member: its DN for `member`, the account itself for
   * `memberUid`. When `mustExist`, an account without an entry is a permanent failure; otherwise
   * it is undefined (it cannot be a member of anything).
   */
  private async memberValue(
    c: Client,
    account: string,
    about: { group: string; account: string },
    mustExist: boolean,
  ): Promise<string | undefined> {
    if (account === '' || account.includes('\0')) {
      throw this.fail('the account is empty or holds a NUL character', {
        code: 'invalid_target',
        retryable: false,
      });
    }
    const a = this.o.accounts;
    let dn: string | undefined;
    if ('template' in a) {
      dn = a.template.dn(account);
      // Reading back or revoking needs no round trip to prove the account exists.
      if (mustExist && !(await this.exists(c, dn))) dn = undefined;
    } else {
      const r = await c
        .search(a.base, {
          scope: 'sub',
          filter: eq(a.attribute, account),
          attributes: ['1.1'],
          sizeLimit: 2,
          timeLimit: this.o.statement,
        })
        .catch((e: unknown) => {
          if (code(e) !== NO_SUCH_OBJECT) throw e;
          throw this.fail(`the accounts' search base ${a.base} does not exist`, {
            code: 'target_not_found',
            retryable: false,
          });
        });
      if (r.searchEntries.length > 1) {
        throw this.fail(
          `account "${account}": more than one entry beneath ${a.base} has ${a.attribute}=${account}`,
          { code: 'account_ambiguous', retryable: false },
        );
      }
      dn = r.searchEntries[0]?.dn;
    }
    if (dn === undefined) {
      if (!mustExist) return undefined;
      throw this.fail(
        `account "${account}" has no entry in the directory (granting "${about.group}"); Gatehouse does not create accounts in LDAP`,
        { code: 'account_not_found', retryable: false },
      );
    }
    return this.o.style === 'member' ? dn : account;
  }

  private async exists(c: Client, dn: string): Promise<boolean> {
    try {
      const r = await c.search(dn, {
        scope: 'base',
        attributes: ['1.1'],
        timeLimit: this.o.statement,
      });
      return r.searchEntries.length > 0;
    } catch (e) {
      if (code(e) === NO_SUCH_OBJECT) return false;
      throw e;
    }
  }

  /**
   * The accounts of a group's member values. A `member` DN that follows the template, or whose
   * first value is the search attribute beneath the search base, is read without a round trip;
   * any other DN is looked up once per listing. A member that is no account (the placeholder, an
   * entry without the attribute) is listed by its DN so that reconciliation sees it, except the
   * placeholder, which is no access.
   */
  private async accountsOf(
    c: Client,
    members: string[],
    cache: Map<string, string | undefined>,
  ): Promise<string[]> {
    if (this.o.style === 'memberUid') return members;
    const placeholder = normalizeDn(this.o.placeholder);
    const out: string[] = [];
    for (const dn of members) {
      if (normalizeDn(dn) === placeholder) continue;
      const a = this.o.accounts;
      if ('template' in a) {
        out.push(a.template.account(dn) ?? dn);
        continue;
      }
      const first = parseDn(dn)?.[0];
      if (
        first?.length === 1 &&
        first[0]!.type.toLowerCase() === a.attribute.toLowerCase() &&
        isUnder(dn, a.base)
      ) {
        out.push(first[0]!.value);
        continue;
      }
      if (!cache.has(dn)) cache.set(dn, await this.attributeOf(c, dn, a.attribute));
      out.push(cache.get(dn) ?? dn);
    }
    return out;
  }

  private async attributeOf(c: Client, dn: string, name: string): Promise<string | undefined> {
    try {
      const r = await c.search(dn, {
        scope: 'base',
        attributes: [name],
        timeLimit: this.o.statement,
      });
      const entry = r.searchEntries[0];
      return entry ? valuesOf(entry, name)[0] : undefined;
    } catch (e) {
      if (code(e) === NO_SUCH_OBJECT) return undefined;
      throw e;
    }
  }

  /** A bound connection for one call, always unbound afterwards, failures translated. */
  private async session<T>(
    about: { group: string; account: string },
    fn: (c: Client) => Promise<T>,
  ): Promise<T> {
    const c = await this.connect();
    try {
      return await fn(c);
    } catch (e) {
      throw this.translate(e, about);
    } finally {
      await this.release(c);
    }
  }

  /**
   * Connects and binds within connect_timeout; every operation after is bounded by
   * statement_timeout on the client and as a time limit on the server. A client whose bind
   * failed is unbound all the same: its socket would otherwise keep the process alive.
   */
  private async connect(): Promise<Client> {
    if (this.closed) throw this.fail('the connector is closed', { code: 'connector_closed' });
    const c = new Client({
      url: this.o.url,
      timeout: this.o.statement * 1000,
      connectTimeout: this.o.connect * 1000,
      ...(this.o.tls && !this.o.startTls ? { tlsOptions: this.o.tls } : {}),
    });
    this.open.add(c);
    let timer: NodeJS.Timeout | undefined;
    try {
      const login = (async () => {
        if (this.o.startTls) await c.startTLS(this.o.tls);
        await c.bind(this.o.bindDn, this.o.password);
      })();
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error('login timed out'), { login: true })),
          this.o.connect * 1000,
        );
      });
      await Promise.race([login, expired]);
      return c;
    } catch (e) {
      await this.release(c);
      throw this.translate(e);
    } finally {
      clearTimeout(timer);
    }
  }

  private async release(c: Client): Promise<void> {
    this.open.delete(c);
    await c.unbind().catch(() => undefined);
  }

  private translate(e: unknown, about?: { group: string; account: string }): TargetError {
    if (e instanceof TargetError || e instanceof InputError) return e as TargetError;
    const c = classify(e);
    const detail = this.scrub(e instanceof Error ? e.message : String(e));
    const limits = `connect_timeout ${this.o.connect}s, statement_timeout ${this.o.statement}s`;
    if (c.reach === 'timeout') {
      return this.fail(
        `the directory at ${this.where} did not answer in time (${limits}): ${detail}`,
        c,
        e,
      );
    }
    if (c.reach === 'unreachable') {
      return this.fail(`cannot reach the directory at ${this.where}: ${detail}`, c, e);
    }
    if (c.code === 'target_tls_failed') {
      return this.fail(`TLS with the directory at ${this.where} failed: ${detail}`, c, e);
    }
    if (c.code === 'target_not_found' && about) {
      return this.fail(`${this.notFound(about).message.replace(/^connector [^:]+: /, '')}`, c, e);
    }
    const subject = about ? `group "${about.group}", account "${about.account}": ` : '';
    return this.fail(`${subject}${detail || c.code}`, c, e);
  }

  private get where(): string {
    return this.o.url.replace(/^ldaps?:\/\//i, '');
  }

  private scrub(message: string): string {
    return this.o.password ? message.split(this.o.password).join('***') : message;
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

const change = (operation: 'add' | 'delete', type: string, value: string) =>
  new Change({ operation, modification: new Attribute({ type, values: [value] }) });
