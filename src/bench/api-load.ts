/**
 * The load generator of the API benchmark, run as a process of its own (api-run.ts forks it), so
 * the server under test does not share its event loop with the client measuring it. It takes one
 * job as an IPC message, runs autocannon on loopback, and answers with what autocannon measured.
 */
import autocannon from 'autocannon';

export interface LoadJob {
  url: string;
  path: string;
  token: string;
  connections: number;
  /** Requests per second across all connections; absent: as fast as the server answers. */
  rate?: number;
  /** Requests to send … */
  amount?: number;
  /** … or else seconds to run. */
  seconds?: number;
  /** The first body's index: each body names a distinct (beneficiary, entitlement) pair. */
  first: number;
  people: number;
  entitlements: string[];
}

export interface LoadResult {
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** The next unused body index. */
  next: number;
  statuses: Record<string, number>;
}

/**
 * Body `i`: person `p{2 + i mod (P - 1)}` and entitlement `(i / (P - 1)) mod E`, so no two bodies
 * are the same pair and bodies in flight together name different people. (Decisions about one
 * person queue on that person's row lock by design; walking a person's entitlements in a row, as
 * this did before, made concurrent requests wait for each other's commits.)
 */
export function body(i: number, people: number, entitlements: string[]): string {
  const e = entitlements.length;
  const person = 2 + (i % (people - 1));
  const entitlement = entitlements[Math.floor(i / (people - 1)) % e];
  return JSON.stringify({
    beneficiary: `p${person}@bench.test`,
    entitlement,
    duration: '8h',
    reason: 'benchmark request through the HTTP API',
  });
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  let i = job.first;
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    ...(job.rate ? { overallRate: job.rate } : {}),
    ...(job.amount ? { amount: job.amount } : { duration: job.seconds }),
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: job.path,
        headers: {
          authorization: `Bearer ${job.token}`,
          'content-type': 'application/json',
        },
        setupRequest: (req) => ({ ...req, body: body(i++, job.people, job.entitlements) }),
      },
    ],
  });
  return {
    sent: result.requests.sent,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    perSecond: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    next: i,
    statuses: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count ?? 0]),
    ),
  };
}

if (process.send) {
  process.once('message', (job: LoadJob) => {
    runLoad(job).then(
      (r) => process.send!({ ok: true, result: r }, () => process.exit(0)),
      (e: unknown) =>
        process.send!({ ok: false, error: String((e as Error).stack ?? e) }, () => process.exit(1)),
    );
  });
}
