import type { Identity, IdentityKind, RiskTier } from '../../core/model.js';
import type { Profile } from './profiles.js';
import { Rng } from './rng.js';

/**
 * A synthetic enterprise, deterministic from its seed: people in departments and titles under a
 * manager tree, non-human identities owned by people, applications of every risk tier, SoD rules,
 * Cedar policies, birthright rules, and grants drawn from role patterns (peers in one department
 * and title hold similar access, with noise), so role fit and SoD behave as they would in a real
 * organisation rather than on uniform random data.
 */

export interface BenchEntitlement {
  id: string;
  app: string;
  risk: RiskTier;
  privileged: boolean;
  standing: boolean;
  kinds: IdentityKind[];
  requiresTicket: boolean;
  licenceTier: string | null;
  maxDuration: string;
  /** Days a loaded grant of this entitlement runs for (within maxDuration). */
  grantDays: number;
}

export interface BenchApp {
  id: string;
  name: string;
  risk: RiskTier;
  owner: string;
  seats: Record<string, number>;
  entitlements: BenchEntitlement[];
}

export interface BenchSod {
  id: string;
  description: string;
  conflict: string[][];
  onConflict: 'block' | 'require_exception';
}

export interface BenchBirthright {
  when: Record<string, string>;
  grant: string[];
  duration?: string;
  standing?: boolean;
}

export interface BenchWorld {
  seed: number;
  profile: Profile;
  /** People first, then non-human identities; grants refer to identities by index here. */
  identities: Identity[];
  people: number;
  apps: BenchApp[];
  entitlements: BenchEntitlement[];
  sod: BenchSod[];
  birthright: BenchBirthright[];
  policies: { file: string; text: string }[];
  groups: { id: string; members: string[] }[];
  /** Entitlement indexes each peer group ("department/title") tends to hold. */
  roles: Map<string, number[]>;
  /** Entitlement index -> indexes it conflicts with under some SoD rule. */
  conflicts: Map<number, Set<number>>;
  /** Live grants as parallel arrays: identity index, entitlement index. */
  grants: { identity: Int32Array; entitlement: Int32Array; length: number };
}

export const DEPARTMENTS = [
  'engineering',
  'finance',
  'sales',
  'support',
  'marketing',
  'operations',
  'legal',
  'hr',
  'security',
  'data',
  'product',
  'procurement',
];
const TITLES = [
  'associate',
  'analyst',
  'specialist',
  'senior',
  'lead',
  'manager',
  'principal',
  'director',
];
const NHI_KINDS: IdentityKind[] = ['service_account', 'api_key', 'workload', 'ai_agent'];
const TIERS: RiskTier[] = [
  'low',
  'low',
  'low',
  'low',
  'medium',
  'medium',
  'medium',
  'high',
  'high',
  'critical',
];
const MAX_BY_TIER: Record<RiskTier, [string, number]> = {
  low: ['365d', 180],
  medium: ['180d', 90],
  high: ['90d', 60],
  critical: ['30d', 14],
};
const ALL_KINDS: IdentityKind[] = ['human', ...NHI_KINDS];
const FANOUT = 7;
const DAY = 86_400_000;

export const personId = (i: number) => `p${i}@bench.test`;

export function generateWorld(profile: Profile, seed = 11): BenchWorld {
  const rng = new Rng(seed);
  const identities = people(profile, rng.fork(1));
  const humans = identities.length;
  // A loop, not push(...spread): a million arguments overflow the stack.
  for (const n of nonHumans(profile, identities, rng.fork(2))) identities.push(n);
  const apps = applications(profile, humans, rng.fork(3));
  const entitlements = apps.flatMap((a) => a.entitlements);
  const roles = rolePatterns(entitlements, rng.fork(4));
  const sod = sodRules(entitlements, roles, rng.fork(5));
  const conflicts = conflictMap(sod, entitlements);
  const grants = drawGrants(
    profile,
    identities,
    humans,
    entitlements,
    roles,
    conflicts,
    rng.fork(6),
  );
  setSeats(apps, entitlements, grants);
  const pick = (n: number) =>
    Array.from({ length: n }, (_, k) => personId(1 + ((k * 97) % (humans - 1))));
  return {
    seed,
    profile,
    identities,
    people: humans,
    apps,
    entitlements,
    sod,
    birthright: birthrightRules(apps),
    policies: policies(apps),
    groups: [
      { id: 'security', members: pick(3) },
      { id: 'governance', members: pick(2) },
      { id: 'risk', members: pick(2) },
    ],
    roles,
    conflicts,
    grants,
  };
}

export const peerKey = (i: Identity) => `${i.department}/${i.title}`;

function people(profile: Profile, rng: Rng): Identity[] {
  const out: Identity[] = [];
  const byDept = new Map<string, string[]>();
  // p0 heads the organisation; each department's first person reports to p0, every later one to
  // an earlier colleague, FANOUT to a manager: a tree as deep as a real org chart.
  for (let i = 0; i < profile.people; i++) {
    const department = i === 0 ? 'executive' : rng.pick(DEPARTMENTS);
    const mates = byDept.get(department) ?? [];
    const k = mates.length;
    const manager = i === 0 ? '' : k === 0 ? personId(0) : mates[Math.floor((k - 1) / FANOUT)]!;
    const title =
      i === 0
        ? 'ceo'
        : TITLES[Math.min(TITLES.length - 1, Math.floor(rng.next() ** 2 * TITLES.length))]!;
    mates.push(personId(i));
    byDept.set(department, mates);
    out.push({
      id: personId(i),
      kind: 'human',
      status: 'active',
      displayName: `Person ${i}`,
      department,
      title,
      manager,
      owner: '',
      attributes: {
        employment_type: rng.chance(0.1) ? 'contractor' : 'employee',
        location: rng.pick(['london', 'berlin', 'new-york', 'singapore']),
      },
    });
  }
  return out;
}

function nonHumans(profile: Profile, humans: Identity[], rng: Rng): Identity[] {
  const out: Identity[] = [];
  const n = profile.people * profile.nhiPerHuman;
  for (let j = 0; j < n; j++) {
    const owner = humans[rng.int(humans.length)]!;
    const kind = NHI_KINDS[j % NHI_KINDS.length]!;
    out.push({
      id: `${kind === 'ai_agent' ? 'agent' : kind === 'api_key' ? 'key' : kind === 'workload' ? 'wl' : 'svc'}:n${j}`,
      kind,
      status: 'active',
      displayName: `${kind} ${j}`,
      department: owner.department,
      title: '',
      manager: '',
      owner: owner.id,
      attributes: {},
    });
  }
  return out;
}

function applications(profile: Profile, humans: number, rng: Rng): BenchApp[] {
  const apps: BenchApp[] = [];
  for (let a = 0; a < profile.apps; a++) {
    const id = `app${String(a).padStart(3, '0')}`;
    const risk = TIERS[a % TIERS.length]!;
    const licensed = a % 5 === 1;
    const ents: BenchEntitlement[] = [];
    const n = 4 + rng.int(8);
    for (let k = 0; k < n; k++) {
      const admin = k === n - 1;
      const entRisk: RiskTier =
        admin && risk !== 'critical' ? (TIERS[TIERS.indexOf(risk) + 3] ?? 'critical') : risk;
      const [maxDuration, grantDays] = MAX_BY_TIER[entRisk];
      ents.push({
        id: `${id}:${k === 0 ? 'reader' : admin ? 'admin' : `role${k}`}`,
        app: id,
        risk: entRisk,
        privileged: admin,
        // The first app's reader is the standing baseline every person is born with.
        standing: a === 0 && k === 0,
        kinds:
          k === 0
            ? ALL_KINDS
            : admin
              ? ['human']
              : ['human', 'service_account', 'workload', 'ai_agent'],
        requiresTicket: entRisk === 'critical',
        licenceTier: licensed && k === 1 ? 'standard' : null,
        maxDuration,
        grantDays,
      });
    }
    apps.push({
      id,
      name: `Application ${a}`,
      risk,
      owner: personId(1 + rng.int(humans - 1)),
      seats: {},
      entitlements: ents,
    });
  }
  return apps;
}

/** Each peer group's usual access: six to ten entitlements from a pool of its department's apps. */
function rolePatterns(ents: BenchEntitlement[], rng: Rng): Map<string, number[]> {
  const roles = new Map<string, number[]>();
  const usable = ents.map((e, i) => ({ e, i })).filter(({ e }) => e.kinds.includes('human'));
  for (const d of ['executive', ...DEPARTMENTS]) {
    const pool = Array.from({ length: 24 }, () => rng.pick(usable).i);
    for (const t of ['ceo', ...TITLES]) {
      const set = new Set<number>();
      const want = 6 + rng.int(5);
      while (set.size < want) set.add(rng.pick(pool));
      roles.set(`${d}/${t}`, [...set]);
    }
  }
  return roles;
}

/** Rules between access some groups hold and access other groups hold, so requests meet them. */
function sodRules(ents: BenchEntitlement[], roles: Map<string, number[]>, rng: Rng): BenchSod[] {
  const groups = [...roles.values()];
  const out: BenchSod[] = [];
  const n = Math.max(4, Math.floor(ents.length / 40));
  const used = new Set<number>();
  for (let r = 0; out.length < n && r < n * 20; r++) {
    const a = rng.pick(rng.pick(groups));
    const b = rng.pick(rng.pick(groups));
    const c = rng.pick(rng.pick(groups));
    if (used.has(a) || used.has(b) || used.has(c) || a === b || a === c || b === c) continue;
    if (ents[a]!.app === ents[b]!.app) continue;
    used.add(a).add(b).add(c);
    const k = out.length;
    out.push({
      id: `SOD-${String(k).padStart(3, '0')}`,
      description: `Whoever holds ${ents[a]!.id} must not also hold ${ents[b]!.id} or ${ents[c]!.id}`,
      conflict: [[ents[a]!.id], [ents[b]!.id, ents[c]!.id]],
      onConflict: k % 2 === 0 ? 'block' : 'require_exception',
    });
  }
  return out;
}

function conflictMap(sod: BenchSod[], ents: BenchEntitlement[]): Map<number, Set<number>> {
  const index = new Map(ents.map((e, i) => [e.id, i]));
  const out = new Map<number, Set<number>>();
  for (const rule of sod)
    for (const [si, side] of rule.conflict.entries())
      for (const x of side)
        for (const [oi, other] of rule.conflict.entries())
          if (oi !== si)
            for (const y of other) {
              const set = out.get(index.get(x)!) ?? new Set<number>();
              set.add(index.get(y)!);
              out.set(index.get(x)!, set);
            }
  return out;
}

/**
 * People hold most of their peer group's pattern plus some noise; non-human identities hold
 * part of their owner's pattern that their kind may hold. Nobody holds both sides of a rule.
 */
function drawGrants(
  profile: Profile,
  identities: Identity[],
  humans: number,
  ents: BenchEntitlement[],
  roles: Map<string, number[]>,
  conflicts: Map<number, Set<number>>,
  rng: Rng,
): BenchWorld['grants'] {
  const identity = new Int32Array(profile.grants);
  const entitlement = new Int32Array(profile.grants);
  let length = 0;
  const humanShare = Math.min(0.5, (humans * 8) / Math.max(1, profile.grants));
  const perHuman = (profile.grants * humanShare) / humans;
  const nhi = identities.length - humans;
  const perNhi = nhi === 0 ? 0 : (profile.grants - profile.grants * humanShare) / nhi;
  const byId = new Map(identities.slice(0, humans).map((p, i) => [p.id, i]));
  const readers = ents
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.kinds.length === ALL_KINDS.length);
  for (let i = 0; i < identities.length && length < profile.grants; i++) {
    const who = identities[i]!;
    const role = roles.get(peerKey(i < humans ? who : identities[byId.get(who.owner)!]!)) ?? [];
    const held = new Set<number>();
    const want = Math.max(
      1,
      Math.round((i < humans ? perHuman : perNhi) * (0.6 + rng.next() * 0.8)),
    );
    const take = (pick: number) => {
      // Access the identity's kind may not hold is swapped for a reader any kind may hold.
      const e = ents[pick]!.kinds.includes(who.kind) ? pick : rng.pick(readers).i;
      if (held.has(e)) return;
      for (const c of conflicts.get(e) ?? []) if (held.has(c)) return;
      held.add(e);
    };
    for (let tries = 0; held.size < want && tries < want * 4; tries++)
      take(
        rng.chance(0.85)
          ? rng.pick(role)
          : rng.chance(0.5)
            ? rng.pick(readers).i
            : rng.int(ents.length),
      );
    for (const e of held) {
      if (length >= profile.grants) break;
      identity[length] = i;
      entitlement[length] = e;
      length++;
    }
  }
  return { identity, entitlement, length };
}

/** Seats cover what is held plus a tenth, except every third pool, which is full: seat checks refuse there. */
function setSeats(apps: BenchApp[], ents: BenchEntitlement[], g: BenchWorld['grants']): void {
  const used = new Map<string, number>();
  for (let k = 0; k < g.length; k++) {
    const e = ents[g.entitlement[k]!]!;
    if (e.licenceTier) used.set(e.app, (used.get(e.app) ?? 0) + 1);
  }
  apps.forEach((a, n) => {
    if (!a.entitlements.some((e) => e.licenceTier)) return;
    const u = used.get(a.id) ?? 0;
    a.seats = { standard: n % 3 === 0 ? Math.max(1, u) : u + Math.max(10, Math.ceil(u / 10)) };
  });
}

function birthrightRules(apps: BenchApp[]): BenchBirthright[] {
  const readers = apps.filter((a) => a.risk === 'low').map((a) => a.entitlements[0]!.id);
  const standing = apps[0]!.entitlements[0]!.id;
  return [
    ...DEPARTMENTS.map((d, k) => ({
      when: { department: d },
      grant: [readers[(k * 2 + 1) % readers.length]!, readers[(k * 2 + 2) % readers.length]!],
      duration: '365d',
    })),
    { when: { kind: 'human' }, grant: [standing], standing: true },
  ];
}

function policies(apps: BenchApp[]): { file: string; text: string }[] {
  const eligibility = [
    '// Who may ask at all. Default deny: without a permit nobody is eligible.',
    '@id("everyone-may-ask")',
    'permit (principal, action == Action::"request", resource);',
    '',
    '@id("no-agent-privilege")',
    '@reason("AI agents may not hold privileged entitlements")',
    'forbid (principal, action == Action::"request", resource)',
    'when { principal.kind == "ai_agent" && resource.privileged };',
    '',
    '@id("contractors-no-critical")',
    '@reason("Contractors may not request critical access")',
    'forbid (principal, action == Action::"request", resource)',
    'when { principal.employment_type == "contractor" && resource.risk >= 4 };',
    '',
    '@id("keys-low-risk-only")',
    '@reason("API keys may hold low-risk access only")',
    'forbid (principal, action == Action::"request", resource)',
    'when { principal.kind == "api_key" && resource.risk >= 2 };',
  ];
  // Department boundaries: each department's critical apps are closed to two others.
  const critical = apps.filter((a) => a.risk === 'critical');
  critical.forEach((a, k) => {
    const d = DEPARTMENTS[k % DEPARTMENTS.length]!;
    eligibility.push(
      '',
      `@id("${a.id}-not-${d}")`,
      `@reason("${a.name} is closed to ${d}")`,
      `forbid (principal, action == Action::"request", resource in App::"${a.id}")`,
      `when { principal.department == "${d}" };`,
    );
  });
  const auto = [
    '@id("peer-backed-low-risk")',
    '@reason("Low-risk access that most of the beneficiary\'s peers hold")',
    'permit (principal, action == Action::"auto_approve", resource)',
    'when { resource.risk <= 1 && context.role_fit >= 80 && context.lifetime_hours <= 2160 };',
    '',
    '@id("short-low-risk")',
    '@reason("Low-risk access for a day or less")',
    'permit (principal, action == Action::"auto_approve", resource)',
    'when { resource.risk <= 1 && context.duration_hours <= 24 };',
  ];
  return [
    { file: 'eligibility.cedar', text: eligibility.join('\n') + '\n' },
    { file: 'auto-approve.cedar', text: auto.join('\n') + '\n' },
  ];
}

/** Grant timing as loaded: granted some days ago, expiring within the entitlement's cap. */
export function grantTimes(
  rng: Rng,
  e: BenchEntitlement,
  now: number,
): { granted: Date; expires: Date } {
  const age = rng.int(Math.max(1, Math.floor(e.grantDays / 2)));
  return { granted: new Date(now - age * DAY), expires: new Date(now + (e.grantDays - age) * DAY) };
}
