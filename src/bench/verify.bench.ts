/**
 * `audit verify` throughput and peak memory at a large chain, beside SHA-256 over the same bytes
 * in the same run (issue 11's targets: at least half the hashing baseline, memory flat in the
 * chain's length).
 *
 *   npm run build && node dist/bench/verify.bench.js
 *   BENCH_EVENTS=5000000 node dist/bench/verify.bench.js      (size; default 1,000,000)
 *   DATABASE_URL=postgres://…                                  (server; default the local one)
 *   BENCH_DB=gh_startup_dev   (keep the seeded database under this name and reuse it next time)
 *
 * A database of its own (gh_startup_<pid>) is created, migrated, filled with a valid chain in
 * bulk and dropped. The verify runs in a child process so that its peak RSS is its own, not the
 * seeding's. The baseline hashes the exact bytes each event's hash covers (prev_hash, "\n", the
 * canonical body), already built in memory: what verify could reach if reading and building
 * the bytes were free.
 */
import '../v8-flags.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { bodyHash, canonical, eventBody } from '../core/audit/chain.js';
import { verifyAudit } from '../core/audit/verify.js';
import { migrate } from '../store/migrate.js';
import { pgSql } from '../store/pg-sql.js';
import { withDb } from '../store/test-store.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Events hashed for the baseline: enough for a steady rate, few enough to hold in memory. */
const BASELINE_EVENTS = Math.min(EVENTS, 500_000);
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const ACTIONS = ['request.submitted', 'request.decided', 'approval.recorded', 'grant.verified'];

/** The i-th event's fields (1-based), shaped like the use cases' events; deterministic. */
function eventFields(seq: number) {
  const req = `req_${(seq * 2654435761).toString(16).padStart(8, '0').slice(-8)}`;
  const grt = `grt_${(seq * 40503).toString(16).padStart(8, '0').slice(-8)}`;
  const person = `person${seq % 5000}@acme.test`;
  return {
    seq,
    at: new Date(T0 + seq * 1000).toISOString(),
    actor: seq % 7 === 0 ? 'system' : person,
    action: ACTIONS[seq % ACTIONS.length]!,
    subject: req,
    details: {
      entitlement: `app${seq % 50}:role${seq % 3}`,
      beneficiary: person,
      outcome: seq % 3 === 0 ? 'approve' : 'needs_approval',
      reasons: ['eligible', 'role_fit'],
      stage: { idx: seq % 2, approvers: ['carol@acme.test', 'dave@acme.test'] },
      duration: 86400 * (seq % 30),
      grant: grt,
    },
    refs: [req, grt],
  };
}

async function seed(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const sql = pgSql(pool);
  await migrate(sql);
  // Seeding only: the GIN index on refs (for `audit trace`) is not read by verify and would
  // make a multi-million-row load several times slower.
  await pool.query('DROP INDEX audit_refs');
  let prev = 'genesis';
  const CHUNK = 10_000;
  for (let from = 1; from <= EVENTS; from += CHUNK) {
    const rows = [];
    for (let seq = from; seq < Math.min(from + CHUNK, EVENTS + 1); seq++) {
      // As appendAudit writes an event: the hashed body stored beside the columns.
      const e = eventFields(seq);
      const body = eventBody(e);
      const hash = bodyHash(prev, body);
      rows.push({ ...e, prev_hash: prev, hash, body });
      prev = hash;
    }
    await pool.query(
      `INSERT INTO audit_events (seq, at, actor, action, subject, details, refs, prev_hash, hash, body)
       SELECT x.seq, x.at, x.actor, x.action, x.subject, x.details,
              ARRAY(SELECT jsonb_array_elements_text(x.refs)), x.prev_hash, x.hash, x.body
         FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                     $6::jsonb[], $7::jsonb[], $8::text[], $9::text[], $10::text[])
           AS x(seq, at, actor, action, subject, details, refs, prev_hash, hash, body)`,
      [
        rows.map((e) => e.seq),
        rows.map((e) => e.at),
        rows.map((e) => e.actor),
        rows.map((e) => e.action),
        rows.map((e) => e.subject),
        rows.map((e) => JSON.stringify(e.details)),
        rows.map((e) => JSON.stringify(e.refs)),
        rows.map((e) => e.prev_hash),
        rows.map((e) => e.hash),
        rows.map((e) => e.body),
      ],
    );
  }
  // The head moves one event at a time through its trigger; a bulk load sets it directly.
  await pool.query('ALTER TABLE audit_head DISABLE TRIGGER USER');
  await pool.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [EVENTS, prev]);
  await pool.query('ALTER TABLE audit_head ENABLE TRIGGER USER');
  await pool.query('VACUUM ANALYZE audit_events');
  await pool.end();
}

/** A local process's CPU time from /proc (utime + stime, in clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** The child: one verify, its time and the process's peak RSS. */
async function measure(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const t = performance.now();
  const cpu = process.cpuUsage();
  const result = await verifyAudit(pgSql(pool));
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  // The server's share: every backend of this database was opened for this verify, so their CPU
  // time is verify's work on the server (rendering and sending rows).
  const backends = await pool.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  const serverCpuMs = backends.rows.reduce((sum, { pid }) => sum + processCpuMs(pid), 0);
  await pool.end();
  process.stdout.write(
    JSON.stringify({
      ms,
      cpuMs: (used.user + used.system) / 1000,
      serverCpuMs,
      ok: result.ok,
      events: result.events,
      maxRssKb: process.resourceUsage().maxRSS,
    }),
  );
}

/** SHA-256 over the bytes each event's hash covers, built beforehand: the rate verify aims at. */
function baseline(): { perSecond: number; perCpuSecond: number; bytes: number } {
  const inputs: string[] = [];
  let prev = 'genesis';
  for (let seq = 1; seq <= BASELINE_EVENTS; seq++) {
    const e = eventFields(seq);
    const body = canonical({
      seq: e.seq,
      at: e.at,
      actor: e.actor,
      action: e.action,
      subject: e.subject,
      details: e.details,
      refs: e.refs,
    });
    const input = `${prev}\n${body}`;
    inputs.push(input);
    prev = createHash('sha256').update(input).digest('hex');
  }
  const bytes = inputs.reduce((n, s) => n + Buffer.byteLength(s), 0);
  // crypto.hash: one call per event, the cheapest way Node offers to hash a string.
  const t = performance.now();
  const cpu = process.cpuUsage();
  let check = 0;
  for (const input of inputs) check ^= hash('sha256', input).charCodeAt(0);
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  if (check === -1) throw new Error('unreachable');
  return {
    perSecond: (BASELINE_EVENTS / ms) * 1000,
    perCpuSecond: (BASELINE_EVENTS / ((used.user + used.system) / 1000)) * 1000,
    bytes: bytes / BASELINE_EVENTS,
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--measure') return measure(process.argv[3]!);
  const keep = process.env.BENCH_DB;
  const name = keep ?? `gh_startup_${process.pid}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  const url = withDb(SERVER, name);
  try {
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${name}`);
      const t = performance.now();
      await seed(url);
      const s = ((performance.now() - t) / 1000).toFixed(1);
      console.log(`seeded ${EVENTS.toLocaleString('en')} events in ${s} s`);
    }
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', url], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    });
    if (child.status !== 0) throw new Error(`the verify child failed: ${child.status}`);
    const run = JSON.parse(child.stdout) as {
      ms: number;
      cpuMs: number;
      serverCpuMs: number;
      ok: boolean;
      events: number;
      maxRssKb: number;
    };
    if (!run.ok || run.events !== EVENTS) throw new Error(`verify did not pass: ${child.stdout}`);
    const base = baseline();
    const rate = (EVENTS / run.ms) * 1000;
    console.log(
      JSON.stringify(
        {
          events: EVENTS,
          verify_ms: Math.round(run.ms),
          verify_events_per_s: Math.round(rate),
          verify_cpu_ms: Math.round(run.cpuMs),
          verify_server_cpu_ms: Math.round(run.serverCpuMs),
          verify_events_per_cpu_s: Math.round((EVENTS / run.cpuMs) * 1000),
          verify_peak_rss_mb: Math.round(run.maxRssKb / 1024),
          baseline_sha256_events_per_s: Math.round(base.perSecond),
          baseline_sha256_events_per_cpu_s: Math.round(base.perCpuSecond),
          baseline_bytes_per_event: Math.round(base.bytes),
          verify_share_of_baseline: Number((rate / base.perSecond).toFixed(3)),
          verify_cpu_share_of_baseline_cpu: Number(
            (((EVENTS / run.cpuMs) * 1000) / base.perCpuSecond).toFixed(3),
          ),
        },
        null,
        2,
      ),
    );
  } finally {
    if (!keep) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
