import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';

/** A user as the SCIM server holds it. */
export interface ScimUser {
  id: string;
  userName: string;
}

/** A group as the SCIM server holds it: members are user ids. */
export interface ScimGroup {
  id: string;
  displayName: string;
  members: string[];
}

/** What the server does with a request before SCIMMY sees it: answer it, or let it through. */
export type Interceptor = (req: Request, res: Response) => 'handled' | 'pass';

/**
 * A real SCIM 2.0 service provider for the connector tests: SCIMMY (RFC 7643/7644 resources,
 * filters, PatchOp, ListResponse paging) behind scimmy-routers on express 5, on a loopback port,
 * holding users and groups in memory. Nothing of the protocol is written here: the handlers only
 * store and fetch records, so the connector meets a peer that read the RFCs on its own.
 */
export interface ScimServer {
  /** The base URL, e.g. http://127.0.0.1:41234/scim/v2 */
  url: string;
  /** The bearer token the server accepts. */
  token: string;
  addUser(userName: string): string;
  addGroup(displayName: string, members?: string[]): string;
  /** The id of the user with that userName. */
  userId(userName: string): string | undefined;
  /** The userNames of a group's members, sorted; [] when the group does not exist. */
  members(displayName: string): string[];
  /** The most resources one list response holds, whatever `count` asks (RFC 7644 3.4.2.4). */
  maxPageSize: number;
  /**
   * Called first for every request under the base path, its JSON body parsed; undefined lets
   * everything through.
   */
  intercept: Interceptor | undefined;
  /** Requests seen (method and path with query), for tests that count round trips. */
  readonly log: string[];
  close(): Promise<void>;
}

interface State {
  users: Map<string, ScimUser>;
  groups: Map<string, ScimGroup>;
  maxPageSize: number;
}

type Resource = {
  id?: string;
  filter?: { match(values: object[]): object[] };
  constraints?: { count?: number; startIndex?: number };
};

/** RFC 7644 3.12 gives a 404 no scimType; SCIMMY's typings ask for a string but accept null. */
const NO_SCIM_TYPE = null as unknown as string;
const notFound = (id: string | undefined) =>
  new SCIMMY.Types.Error(404, NO_SCIM_TYPE, `Resource ${id} not found`);

/** Caps the page a list response holds, as a service provider's maxResults does. */
function capped(resource: Resource, state: State): void {
  const c = resource.constraints ?? {};
  resource.constraints = { ...c, count: Math.min(c.count ?? state.maxPageSize, state.maxPageSize) };
}

function listed<T extends object>(resource: Resource, state: State, all: T[]): T | T[] {
  if (resource.id !== undefined) {
    const found = all.find((r) => (r as { id?: string }).id === resource.id);
    if (!found) throw notFound(resource.id);
    return found;
  }
  capped(resource, state);
  return resource.filter ? (resource.filter.match(all) as T[]) : all;
}

const groupOut = (g: ScimGroup) => ({
  id: g.id,
  displayName: g.displayName,
  members: g.members.map((value) => ({ value, type: 'User' })),
});

let declared = false;

/**
 * SCIMMY's resources are process-wide singletons: they are declared once, and their handlers find
 * the server's own state in the request context, so several servers can run in one process.
 */
function declare(): void {
  if (declared) return;
  declared = true;
  SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    egress: (resource: Resource, ctx: State) => listed(resource, ctx, [...ctx.users.values()]),
    ingress: (resource: Resource, instance: { userName: string }, ctx: State) => {
      const taken = [...ctx.users.values()].find(
        (u) => u.userName.toLowerCase() === instance.userName.toLowerCase(),
      );
      if (taken && taken.id !== resource.id) {
        throw new SCIMMY.Types.Error(409, 'uniqueness', `userName ${instance.userName} is taken`);
      }
      const id = resource.id ?? randomUUID();
      if (resource.id !== undefined && !ctx.users.has(id)) throw notFound(id);
      const user = { id, userName: instance.userName };
      ctx.users.set(id, user);
      return user;
    },
    degress: (resource: Resource, ctx: State) => {
      if (!ctx.users.delete(resource.id!)) throw notFound(resource.id);
      for (const g of ctx.groups.values()) g.members = g.members.filter((m) => m !== resource.id);
    },
  });
  SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    egress: (resource: Resource, ctx: State) =>
      listed(resource, ctx, [...ctx.groups.values()].map(groupOut)),
    ingress: (
      resource: Resource,
      instance: { displayName: string; members?: { value: string }[] },
      ctx: State,
    ) => {
      const id = resource.id ?? randomUUID();
      if (resource.id !== undefined && !ctx.groups.has(id)) throw notFound(id);
      const members = [...new Set((instance.members ?? []).map((m) => m.value))];
      const unknown = members.find((m) => !ctx.users.has(m));
      if (unknown !== undefined) {
        throw new SCIMMY.Types.Error(400, 'invalidValue', `member ${unknown} is no user`);
      }
      const group = { id, displayName: instance.displayName, members };
      ctx.groups.set(id, group);
      return groupOut(group);
    },
    degress: (resource: Resource, ctx: State) => {
      if (!ctx.groups.delete(resource.id!)) throw notFound(resource.id);
    },
  });
}

/** Starts a SCIM server on a free loopback port. */
export async function startScimServer(opts: { maxPageSize?: number } = {}): Promise<ScimServer> {
  declare();
  const state: State = {
    users: new Map(),
    groups: new Map(),
    maxPageSize: opts.maxPageSize ?? 100,
  };
  const token = randomBytes(18).toString('base64url');
  const log: string[] = [];
  const app = express();
  let intercept: Interceptor | undefined;
  app.use('/scim/v2', express.json({ type: ['application/scim+json', 'application/json'] }));
  app.use('/scim/v2', (req, res, next) => {
    log.push(`${req.method} ${req.originalUrl}`);
    // Express 5 makes req.query a getter that parses afresh on every read, so scimmy-routers'
    // conversion of startIndex and count to numbers would be lost; give the request a plain copy.
    Object.defineProperty(req, 'query', { value: { ...req.query }, writable: true });
    if (intercept && intercept(req, res) === 'handled') return;
    next();
  });
  app.use(
    '/scim/v2',
    new SCIMMYRouters({
      type: 'bearer',
      docUri: 'https://gatehouse.test/docs/scim',
      handler: (req: Request) => {
        if (req.header('authorization') !== `Bearer ${token}`) {
          throw new Error('the bearer token is missing or wrong');
        }
        return 'gatehouse';
      },
      context: () => state,
    }),
  );
  const server: Server = await new Promise((ready) => {
    const s = app.listen(0, '127.0.0.1', () => ready(s));
  });
  const port = (server.address() as AddressInfo).port;
  const byName = (displayName: string) =>
    [...state.groups.values()].find((g) => g.displayName === displayName);
  return {
    url: `http://127.0.0.1:${port}/scim/v2`,
    token,
    log,
    get maxPageSize() {
      return state.maxPageSize;
    },
    set maxPageSize(n: number) {
      state.maxPageSize = n;
    },
    get intercept() {
      return intercept;
    },
    set intercept(fn: Interceptor | undefined) {
      intercept = fn;
    },
    addUser(userName) {
      const id = randomUUID();
      state.users.set(id, { id, userName });
      return id;
    },
    addGroup(displayName, members = []) {
      const id = randomUUID();
      state.groups.set(id, { id, displayName, members });
      return id;
    },
    userId(userName) {
      return [...state.users.values()].find((u) => u.userName === userName)?.id;
    },
    members(displayName) {
      const g = byName(displayName);
      if (!g) return [];
      return g.members.map((m) => state.users.get(m)?.userName ?? m).sort();
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
