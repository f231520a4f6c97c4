/**
 * Benchmark sizes. `small` is the CI smoke size; `medium` and `large` are issue 11's enterprise
 * sizes. The counts of each scenario's work live here too, so a profile is one complete workload.
 */
export interface Profile {
  name: string;
  people: number;
  /** Non-human identities (service accounts, API keys, workloads, AI agents) per person. */
  nhiPerHuman: number;
  /** Live grants loaded in bulk (approximate: drawn from role patterns, then cut to this). */
  grants: number;
  apps: number;
  decideSamples: number;
  roleFitSamples: number;
  submitRequests: number;
  provision: number;
  expire: number;
  auditEvents: number;
  /** Share of the people who move (department or title) and who leave, in the sync snapshot. */
  movers: number;
  leavers: number;
  cliRuns: number;
  /** Times each web UI page is fetched (scenarios/ui.ts). */
  uiSamples: number;
  /** Target memberships reconciled against as many grants (reconcile.bench.ts). */
  reconcileMemberships: number;
  /** The API benchmark's fixed rate (requests/s), the seconds of each phase, its seeded people. */
  apiRate: number;
  apiSeconds: number;
  apiPeople: number;
}

const base = { movers: 0.02, leavers: 0.01 };

export const PROFILES: Record<string, Profile> = {
  small: {
    ...base,
    name: 'small',
    people: 1_000,
    nhiPerHuman: 20,
    grants: 100_000,
    apps: 40,
    decideSamples: 2_000,
    roleFitSamples: 2_000,
    submitRequests: 2_000,
    provision: 2_000,
    expire: 5_000,
    auditEvents: 200_000,
    cliRuns: 5,
    uiSamples: 100,
    reconcileMemberships: 100_000,
    apiRate: 100,
    apiSeconds: 5,
    apiPeople: 10_000,
  },
  medium: {
    ...base,
    name: 'medium',
    people: 10_000,
    nhiPerHuman: 20,
    grants: 1_000_000,
    apps: 200,
    decideSamples: 10_000,
    roleFitSamples: 10_000,
    submitRequests: 50_000,
    provision: 10_000,
    expire: 100_000,
    auditEvents: 5_000_000,
    cliRuns: 10,
    uiSamples: 100,
    reconcileMemberships: 1_000_000,
    apiRate: 200,
    apiSeconds: 10,
    apiPeople: 40_000,
  },
  large: {
    ...base,
    name: 'large',
    people: 50_000,
    nhiPerHuman: 20,
    grants: 5_000_000,
    apps: 500,
    decideSamples: 10_000,
    roleFitSamples: 10_000,
    submitRequests: 50_000,
    provision: 10_000,
    expire: 100_000,
    auditEvents: 5_000_000,
    cliRuns: 10,
    uiSamples: 100,
    reconcileMemberships: 1_000_000,
    apiRate: 200,
    apiSeconds: 10,
    apiPeople: 40_000,
  },
};

/** The test's size: every scenario of `small`'s organisation shape, with a handful of operations each. */
export function tiny(p: Profile): Profile {
  return {
    ...p,
    name: `${p.name}-tiny`,
    people: 200,
    nhiPerHuman: 2,
    grants: 2_000,
    apps: 12,
    decideSamples: 30,
    roleFitSamples: 30,
    submitRequests: 40,
    provision: 20,
    expire: 40,
    auditEvents: 2_000,
    cliRuns: 1,
    uiSamples: 3,
    reconcileMemberships: 2_000,
    apiRate: 10,
    apiSeconds: 2,
    apiPeople: 3_000,
  };
}

/** Reads `--profile` with BENCH_* overrides of single counts (BENCH_SUBMIT_REQUESTS=…). */
export function profileNamed(name: string, env: NodeJS.ProcessEnv = process.env): Profile {
  const p = PROFILES[name];
  if (!p) throw new Error(`--profile: "${name}" is not one of ${Object.keys(PROFILES).join(', ')}`);
  const out: Profile = { ...p };
  for (const key of Object.keys(out) as (keyof Profile)[]) {
    const envName = `BENCH_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const v = env[envName];
    if (v === undefined || key === 'name') continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${envName}: "${v}" is not a number`);
    (out as unknown as Record<string, number>)[key] = n;
  }
  return out;
}
