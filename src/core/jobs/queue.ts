import { addSeconds } from '../duration.js';
import type { Sql } from '../sql.js';

/** A row of the one job queue (migration 003, ADR 0006). */
export interface Job {
  id: number;
  kind: string;
  payload: Record<string, unknown>;
  subject: string | null;
  queue: string;
  /** Including the attempt now running, once leased. */
  attempts: number;
  due_at: Date;
  created_at: Date;
}

export interface NewJob {
  kind: string;
  payload?: Record<string, unknown>;
  /** What the job changes: jobs of one subject run one at a time, in the order enqueued. */
  subject?: string;
  /** The isolation key (the connector, for target work). */
  queue?: string;
  /** The same work enqueued twice while unfinished is one job. */
  dedupeKey?: string;
  dueAt: Date;
}

const COLUMNS = 'id, kind, payload, subject, queue, attempts, due_at, created_at';

/**
 * Enqueues in the caller's transaction, so the job commits with the state change that implies
 * it. Returns false when an unfinished job with the same dedupe key already exists; its due time
 * is brought forward if this one is due sooner.
 */
export async function enqueue(tx: Sql, now: Date, job: NewJob): Promise<boolean> {
  const rows = await tx.query(
    `INSERT INTO jobs (kind, payload, subject, queue, dedupe_key, due_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (dedupe_key) WHERE state = 'pending' AND dedupe_key IS NOT NULL
     DO UPDATE SET due_at = LEAST(jobs.due_at, EXCLUDED.due_at)
     RETURNING (xmax = 0) AS inserted`,
    [
      job.kind,
      JSON.stringify(job.payload ?? {}),
      job.subject ?? null,
      job.queue ?? 'default',
      job.dedupeKey ?? null,
      job.dueAt,
      now,
    ],
  );
  return (rows[0] as { inserted?: boolean } | undefined)?.inserted === true;
}

export interface LeaseOptions {
  owner: string;
  now: Date;
  leaseSeconds: number;
  /**
   * Whether this process takes a candidate, asked in lease order: it bounds what each queue gets
   * by its free slots (and how many jobs one slot's batch may hold).
   */
  take: (job: Job) => boolean;
  /** Queues with no free slot: left out in SQL, so a full queue's backlog is not even read. */
  fullQueues: string[];
  limit: number;
}

/**
 * The due jobs a lease takes, oldest first. A job waits while an older job of its subject is
 * unfinished (a revoke behind its in-flight apply). $1 now, $2 full queues, $3 limit.
 */
export const LEASE_SQL = `SELECT ${COLUMNS} FROM jobs j
        WHERE state = 'pending' AND due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
          AND NOT (queue = ANY($2::text[]))
          AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.subject = j.subject AND o.state = 'pending' AND o.id < j.id)
        ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`;

/**
 * The lease must walk jobs_due in order and stop at its limit. The jobs table is never analyzed
 * (ADR 0011), so the planner guesses a handful of due rows; in a burst it then prefers to collect
 * every due job with a bitmap scan, check each one's subject and sort them all, for each lease:
 * measured on PGlite at 20,000 due, 130-350 ms a lease and growing with the burst. Without the
 * sort, the ordered index scan is the only plan left, whatever the statistics say.
 */
export const LEASE_PLANNER = 'SET LOCAL enable_sort = off';

/**
 * Leases a batch of due jobs in one transaction. FOR UPDATE SKIP LOCKED lets several nodes share
 * the queue without two taking one row; a lapsed lease makes a dead worker's job due again.
 * Candidates beyond a queue's free slots stay unleased for the next round or another node.
 */
export async function leaseBatch(sql: Sql, o: LeaseOptions): Promise<Job[]> {
  return sql.transaction(async (tx) => {
    await tx.query(LEASE_PLANNER);
    const candidates = await tx.query<Job>(LEASE_SQL, [o.now, o.fullQueues, o.limit]);
    const chosen = candidates.map((j) => ({ ...j, id: Number(j.id) })).filter((j) => o.take(j));
    if (chosen.length === 0) return [];
    await tx.query(
      `UPDATE jobs SET lease_owner = $2, lease_until = $3, attempts = attempts + 1 WHERE id = ANY($1::bigint[])`,
      [chosen.map((j) => j.id), o.owner, addSeconds(o.now, o.leaseSeconds)],
    );
    return chosen.map((j) => ({ ...j, attempts: j.attempts + 1 }));
  });
}

/** Extends the leases this worker still holds; returns the ids it lost. */
export async function renewLeases(
  sql: Sql,
  owner: string,
  ids: number[],
  until: Date,
): Promise<number[]> {
  if (ids.length === 0) return [];
  const kept = await sql.query<{ id: number | string }>(
    `UPDATE jobs SET lease_until = $3 WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND state = 'pending' RETURNING id`,
    [ids, owner, until],
  );
  const still = new Set(kept.map((r) => Number(r.id)));
  return ids.filter((id) => !still.has(id));
}

/**
 * Marks a leased job done, only if this worker still holds it: a worker whose lease lapsed cannot
 * overwrite another's outcome. Returns whether it did.
 */
export async function completeJob(tx: Sql, job: Job, owner: string, now: Date): Promise<boolean> {
  const mine = await tx.query(
    `UPDATE jobs SET state = 'done', done_at = $3, last_error = NULL
      WHERE id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING id`,
    [job.id, owner, now],
  );
  return mine.length > 0;
}

/** completeJob for many jobs in one statement; returns the ids this worker still held. */
export async function completeJobs(
  tx: Sql,
  done: readonly { job: Job; now: Date }[],
  owner: string,
): Promise<Set<number>> {
  if (done.length === 0) return new Set();
  const mine = await tx.query<{ id: number | string }>(
    `UPDATE jobs j SET state = 'done', done_at = x.at, last_error = NULL
       FROM unnest($1::bigint[], $2::timestamptz[]) AS x(id, at)
      WHERE j.id = x.id AND j.lease_owner = $3 AND j.state = 'pending' RETURNING j.id`,
    [done.map((d) => d.job.id), done.map((d) => d.now), owner],
  );
  return new Set(mine.map((r) => Number(r.id)));
}

/** Sets a leased job due again at `dueAt` with its error, releasing the lease. */
export async function retryJob(
  tx: Sql,
  job: Job,
  owner: string,
  dueAt: Date,
  error: string,
): Promise<boolean> {
  const mine = await tx.query(
    `UPDATE jobs SET due_at = $3, last_error = $4, lease_until = NULL
      WHERE id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING id`,
    [job.id, owner, dueAt, error],
  );
  return mine.length > 0;
}

/** Gives a leased job up for good. */
export async function failJob(
  tx: Sql,
  job: Job,
  owner: string,
  now: Date,
  error: string,
): Promise<boolean> {
  const mine = await tx.query(
    `UPDATE jobs SET state = 'failed', done_at = $3, last_error = $4, lease_until = NULL
      WHERE id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING id`,
    [job.id, owner, now, error],
  );
  return mine.length > 0;
}

/**
 * Cancels the unfinished jobs of a subject that no worker holds. A job under a live lease is left
 * to finish: whatever it changes, the next job of the subject runs right after it.
 */
export async function cancelIdle(
  tx: Sql,
  subject: string,
  kinds: string[],
  now: Date,
): Promise<number> {
  const rows = await tx.query(
    `UPDATE jobs SET state = 'cancelled', done_at = $3
      WHERE subject = $1 AND state = 'pending' AND kind = ANY($2::text[])
        AND (lease_until IS NULL OR lease_until < $3) RETURNING id`,
    [subject, kinds, now],
  );
  return rows.length;
}

/** cancelIdle for many subjects in one statement. */
export async function cancelIdleMany(
  tx: Sql,
  subjects: readonly string[],
  kinds: string[],
  now: Date,
): Promise<number> {
  if (subjects.length === 0) return 0;
  const rows = await tx.query(
    `UPDATE jobs SET state = 'cancelled', done_at = $3
      WHERE subject = ANY($1::text[]) AND state = 'pending' AND kind = ANY($2::text[])
        AND (lease_until IS NULL OR lease_until < $3) RETURNING id`,
    [subjects, kinds, now],
  );
  return rows.length;
}

/** The last error of each subject's unfinished job, for listings. */
export async function lastErrors(
  sql: Sql,
  subjects: string[],
): Promise<Map<string, { error: string; due_at: Date; attempts: number }>> {
  if (subjects.length === 0) return new Map();
  const rows = await sql.query<{
    subject: string;
    last_error: string;
    due_at: Date;
    attempts: number;
  }>(
    `SELECT subject, last_error, due_at, attempts FROM jobs
      WHERE subject = ANY($1::text[]) AND state = 'pending' AND last_error IS NOT NULL ORDER BY id`,
    [subjects],
  );
  return new Map(
    rows.map((r) => [r.subject, { error: r.last_error, due_at: r.due_at, attempts: r.attempts }]),
  );
}

export interface QueueStats {
  /** Unfinished jobs by kind. */
  depth_by_kind: Record<string, number>;
  /** Seconds the longest-waiting due job has been due (0 when none is). */
  oldest_due_age_seconds: number;
  /** Unfinished jobs whose last attempt failed, by queue (connector). */
  retrying_by_queue: Record<string, number>;
  /** Jobs given up, by queue (connector). */
  failed_by_queue: Record<string, number>;
}

/** The queue's figures for the report and /metrics; every query is on a partial index. */
export async function queueStats(sql: Sql, now: Date): Promise<QueueStats> {
  const byKind = await sql.query<{ kind: string; n: number | string }>(
    `SELECT kind, count(*) AS n FROM jobs WHERE state = 'pending' GROUP BY kind ORDER BY kind`,
  );
  const [oldest] = await sql.query<{ due_at: Date | null }>(
    `SELECT min(due_at) AS due_at FROM jobs WHERE state = 'pending' AND due_at <= $1`,
    [now],
  );
  const retrying = await sql.query<{ queue: string; n: number | string }>(
    `SELECT queue, count(*) AS n FROM jobs WHERE state = 'pending' AND last_error IS NOT NULL GROUP BY queue ORDER BY queue`,
  );
  const failed = await sql.query<{ queue: string; n: number | string }>(
    `SELECT queue, count(*) AS n FROM jobs WHERE state = 'failed' GROUP BY queue ORDER BY queue`,
  );
  const counts = (rows: { n: number | string }[], key: (r: never) => string) =>
    Object.fromEntries(rows.map((r) => [key(r as never), Number(r.n)]));
  return {
    depth_by_kind: counts(byKind, (r: { kind: string }) => r.kind),
    oldest_due_age_seconds: oldest?.due_at
      ? Math.max(0, (now.getTime() - new Date(oldest.due_at).getTime()) / 1000)
      : 0,
    retrying_by_queue: counts(retrying, (r: { queue: string }) => r.queue),
    failed_by_queue: counts(failed, (r: { queue: string }) => r.queue),
  };
}
