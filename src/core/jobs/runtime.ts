import { auditedTransaction } from '../audit/chain.js';
import type { Clock } from '../clock.js';
import { addSeconds } from '../duration.js';
import { TargetError } from '../errors.js';
import { scrubSecrets } from '../secrets.js';
import type { Settled } from '../ports/connector.js';
import type { Sql } from '../sql.js';
import {
  type Job,
  completeJob,
  completeJobs,
  failJob,
  leaseBatch,
  renewLeases,
  retryJob,
} from './queue.js';

/** How a failed attempt of one kind is retried. */
export interface RetryPolicy {
  /** After this many failed attempts the job gives up; Infinity for work that must never stop. */
  maxAttempts: number;
  /** Seconds before the next attempt, before jitter and the target's own Retry-After. */
  backoffSeconds(attempt: number): number;
}

export interface Failure {
  error: string;
  /** The target said trying again cannot help (a role that does not exist). */
  permanent: boolean;
  /** The job gives up: no further attempt. */
  final: boolean;
  attempts: number;
  /** When the next attempt is due, unless final. */
  nextAt: Date | null;
}

/** One handler per job kind. */
export interface JobHandler<R = unknown> {
  kind: string;
  retry: RetryPolicy;
  /** The work, outside any transaction (a target call), bounded by the target timeout. */
  perform(job: Job): Promise<R>;
  /**
   * The work of several jobs of this kind and one queue at once (one batch of target calls), one
   * outcome per job in order: a job that fails fails alone. Optional; a batch takes one slot.
   */
  performMany?(jobs: Job[]): Promise<Settled<R>[]>;
  /** Records the outcome in the transaction that marks the job done. */
  succeeded(tx: Sql, job: Job, now: Date, result: R): Promise<void>;
  /**
   * succeeded() for many jobs at once, set-based, in the transaction that marks them done
   * (only those this worker still held). Optional; must write what succeeded() would.
   */
  succeededMany?(tx: Sql, done: { job: Job; now: Date; result: R }[]): Promise<void>;
  /** Records a failed attempt in the transaction that reschedules or fails the job. */
  failed(tx: Sql, job: Job, now: Date, failure: Failure): Promise<void>;
  /**
   * Locks the subjects of a batch of outcomes, in one order, before any of them is written: a
   * batch then waits for a subject's row before it holds the audit head, as a single change does,
   * so it cannot deadlock with a use case that locks the row and then appends to the audit chain.
   * Kinds sharing a table share the function (it is called once per batch per function).
   */
  lockSubjects?: (tx: Sql, subjects: string[]) => Promise<void>;
}

/**
 * Periodic work (expiry, lapses, reminders…), registered with the runtime. `run` does one batch
 * and says whether more is due now, so that a large backlog is handed on batch by batch while
 * the jobs it creates already run.
 */
export interface PeriodicTask {
  name: string;
  /**
   * Runs once the run's other work is done (no task pending, no job in flight), so it sees the
   * store at rest: statistics taken in the middle of a burst would describe the burst.
   */
  atRest?: boolean;
  run(now: Date): Promise<{ count: number; more: boolean }>;
}

export interface RuntimeSettings {
  /** Jobs of one queue (one connector) in flight in this process at once. */
  perQueue: number;
  /** All jobs in flight in this process at once. */
  maxInFlight: number;
  /** Short, and renewed while the job runs: a killed worker's job is due again within this. */
  leaseSeconds: number;
  /** Total time one job's work (every call to its target) may take. */
  timeoutSeconds: number;
  /**
   * The most jobs of one kind and queue handed to a handler's performMany together, in one slot.
   * A queue starts each run at one job per slot and doubles while its batches succeed, so a
   * target that hangs or fails never has more than `perQueue` jobs in flight.
   */
  batchSize: number;
}

export const DEFAULT_RUNTIME: RuntimeSettings = {
  perQueue: 4,
  maxInFlight: 16,
  leaseSeconds: 20,
  timeoutSeconds: 30,
  batchSize: 64,
};

export interface RuntimeDeps {
  sql: Sql;
  clock: Clock;
  workerId: string;
}

/** A failed attempt, for whoever watches the run (sweep prints them). */
export interface FailureReport {
  kind: string;
  subject: string | null;
  queue: string;
  attempts: number;
  error: string;
  final: boolean;
  next_attempt_at: string | null;
}

export interface RunResult {
  /** Jobs completed by this worker. */
  done: number;
  /** Failed attempts (retrying or given up). */
  failed: number;
  failures: FailureReport[];
  /** Items handled by each periodic task. */
  periodic: Record<string, number>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Full jitter around the backoff keeps retries of one outage from arriving together. */
function nextDelay(policy: RetryPolicy, attempt: number, e: unknown): number {
  const base = policy.backoffSeconds(attempt);
  const jittered = base * (0.8 + Math.random() * 0.4);
  const asked = e instanceof TargetError ? (e.retryAfterSeconds ?? 0) : 0;
  return Math.max(jittered, asked);
}

class Timeout extends TargetError {}

/**
 * Races the work against the total timeout. The work itself may go on (a socket that never
 * answers); the caller keeps its slot taken until it settles, so a hung target never gets more
 * than its bound of calls in flight.
 */
function bounded<R>(work: Promise<R>, seconds: number, what: string): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Timeout(`${what}: no answer within ${seconds} s`, {
            code: 'target_timeout',
            retryable: true,
          }),
        ),
      seconds * 1000,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Writes one job's outcome in `tx`; false when the job was no longer this worker's. */
type OutcomeWrite = (tx: Sql) => Promise<boolean>;
type Lock = NonNullable<JobHandler['lockSubjects']>;
type SucceededMany = NonNullable<JobHandler['succeededMany']>;
/** A success whose handler records many at once: written with its like, set-based. */
interface ManySuccess {
  fn: SucceededMany;
  job: Job;
  now: Date;
  result: unknown;
}
type Recorder = (
  write: OutcomeWrite,
  counted: () => void,
  lock?: { fn: Lock; subject: string },
  many?: ManySuccess,
) => Promise<void>;

/** Outcomes recorded in one transaction at most. */
const OUTCOME_BATCH = 256;

/**
 * Records outcomes in batches: whatever finished while the previous batch was being written goes
 * into the next transaction together, so a busy worker commits once per batch, not once per job;
 * successes of a kind with succeededMany are written set-based (a few statements per batch).
 * If a batch fails as a whole, its outcomes are written one by one, so one bad row sinks only itself.
 */
function outcomeRecorder(sql: Sql, owner: string): { record: Recorder } {
  type Item = {
    write: OutcomeWrite;
    counted: () => void;
    lock: { fn: Lock; subject: string } | undefined;
    many: ManySuccess | undefined;
    done: (e?: unknown) => void;
  };
  const lockAll = async (tx: Sql, items: Item[]) => {
    const byFn = new Map<Lock, string[]>();
    for (const { lock } of items)
      if (lock) byFn.set(lock.fn, [...(byFn.get(lock.fn) ?? []), lock.subject]);
    for (const [fn, subjects] of byFn) await fn(tx, [...new Set(subjects)].sort());
  };
  const writeAll = async (tx: Sql, batch: Item[]): Promise<boolean[]> => {
    await lockAll(tx, batch);
    const out: boolean[] = batch.map(() => false);
    const groups = new Map<SucceededMany, number[]>();
    for (let i = 0; i < batch.length; i++) {
      const many = batch[i]!.many;
      if (many) groups.set(many.fn, [...(groups.get(many.fn) ?? []), i]);
      else out[i] = await batch[i]!.write(tx);
    }
    for (const [fn, idx] of groups) {
      const items = idx.map((i) => batch[i]!.many!);
      const mine = await completeJobs(tx, items, owner);
      const done = idx.filter((i) => mine.has(batch[i]!.many!.job.id));
      for (const i of done) out[i] = true;
      if (done.length > 0)
        await fn(
          tx,
          done.map((i) => {
            const m = batch[i]!.many!;
            return { job: m.job, now: m.now, result: m.result };
          }),
        );
    }
    return out;
  };
  const queue: Item[] = [];
  let writing = false;
  const flush = async () => {
    writing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, OUTCOME_BATCH);
        let mine: boolean[] | undefined;
        try {
          mine = await auditedTransaction(sql, (tx) => writeAll(tx, batch));
        } catch {
          mine = undefined;
        }
        if (mine) {
          batch.forEach((item, i) => {
            if (mine![i]) item.counted();
            item.done();
          });
          continue;
        }
        for (const item of batch) {
          try {
            const mineOne = await auditedTransaction(sql, async (tx) => {
              await lockAll(tx, [item]);
              return item.write(tx);
            });
            if (mineOne) item.counted();
            item.done();
          } catch (e) {
            item.done(e);
          }
        }
      }
    } finally {
      writing = false;
    }
  };
  return {
    record: (write, counted, lock, many) =>
      new Promise<void>((resolve, reject) => {
        queue.push({
          write,
          counted,
          lock,
          many,
          done: (e) => (e === undefined ? resolve() : reject(e)),
        });
        if (!writing) void flush();
      }),
  };
}

/**
 * The job runtime: runs periodic work and due jobs until nothing more is due, with a bounded
 * number of jobs in flight per queue, so that one slow target delays only its own work.
 */
export class JobRuntime {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly periodic: PeriodicTask[] = [];
  readonly settings: RuntimeSettings;

  constructor(
    private readonly d: RuntimeDeps,
    settings: Partial<RuntimeSettings> = {},
  ) {
    this.settings = { ...DEFAULT_RUNTIME, ...settings };
  }

  handle<R>(handler: JobHandler<R>): this {
    this.handlers.set(handler.kind, handler as JobHandler);
    return this;
  }

  every(task: PeriodicTask): this {
    this.periodic.push(task);
    return this;
  }

  /** Runs every due periodic task and job until none is left; returns what it did. */
  async drain(opts: { limit?: number; stop?: AbortSignal } = {}): Promise<RunResult> {
    const s = this.settings;
    const limit = opts.limit ?? Infinity;
    const result: RunResult = { done: 0, failed: 0, failures: [], periodic: {} };
    // Slots are held until the work settles, even past its timeout: see bounded().
    const busy = new Map<string, number>();
    let busyTotal = 0;
    // Outcomes not yet recorded: the drain ends only when these are.
    const running = new Set<Promise<void>>();
    const leased = new Map<number, Job>();
    let started = 0;
    // A lease that came back with free slots unused took every due job outside the full queues;
    // until a slot frees, another lease finds only what periodic work added since. Walking the due
    // jobs of the full queues costs a scan of the backlog, so it is done at most once a second.
    let exhausted = false;
    let lastLease = 0;
    // Bumped by whatever may have made a job due (an outcome recorded, periodic work that queued
    // jobs). A lease that was under way meanwhile read the queue before it: its empty answer does
    // not make the queue exhausted, or the job that outcome unblocked (a ticket's next update
    // behind the one just written) would wait for the next run.
    let wakes = 0;
    const wake = () => {
      exhausted = false;
      wakes++;
    };
    // Slots still held by work that outlived its timeout: the run waits for them (bounded) before
    // it ends, so jobs of that queue still due are not left behind for the next run.
    let lingerSince: number | undefined;

    const renewal = setInterval(
      () => {
        const ids = [...leased.keys()];
        void renewLeases(
          this.d.sql,
          this.d.workerId,
          ids,
          addSeconds(this.d.clock.now(), s.leaseSeconds),
        ).catch(() => undefined);
      },
      Math.max(1000, (s.leaseSeconds * 1000) / 3),
    );
    renewal.unref();

    const recorder = outcomeRecorder(this.d.sql, this.d.workerId);
    // Jobs per batch by queue and kind: one at first, doubled after each batch that succeeded
    // whole, back to one after any failure (a slow start, so a failing target stays narrow).
    const batchOf = new Map<string, number>();
    let storeError: unknown;
    const pendingTasks = this.periodic.filter((t) => !t.atRest);
    const restTasks = this.periodic.filter((t) => t.atRest);
    for (const t of this.periodic) result.periodic[t.name] = 0;
    try {
      for (;;) {
        // Asked to stop (a node shutting down): lease nothing more, let what is in flight finish
        // and be recorded, and leave everything else to the other nodes or the next run.
        if (opts.stop?.aborted) {
          if (running.size === 0) break;
          await Promise.race([...running, sleep(200)]);
          continue;
        }
        // One batch of periodic work per round, so the jobs it creates start while it goes on.
        // Tasks run in the order registered (expiry before reminders), each until it is done.
        const task = pendingTasks[0];
        if (task) {
          const r = await task.run(this.d.clock.now());
          result.periodic[task.name] = (result.periodic[task.name] ?? 0) + r.count;
          if (!r.more) pendingTasks.shift();
          // Work done may have queued jobs (expiry's revocations, reconciliation's fixes): look now.
          if (r.count > 0) wake();
        }

        const room = Math.min(s.maxInFlight - busyTotal, limit - started);
        let groups: Job[][] = [];
        // This round's lease read the queue before something woke it: look again before ending.
        let stale = false;
        const throttled = exhausted && Date.now() - lastLease < 1000;
        if (room > 0 && !throttled) {
          const full = [...busy].filter(([, n]) => n >= s.perQueue).map(([q]) => q);
          // Grouping as candidates come, in lease order: a job joins its queue and kind's open
          // batch while it has room, else takes a free slot of its own.
          const free = new Map<string, number>();
          const open = new Map<string, number>();
          const groupOf = new Map<number, number>();
          const sizes: number[] = [];
          let slotsLeft = room;
          let jobsLeft = limit - started;
          const take = (job: Job): boolean => {
            if (jobsLeft <= 0) return false;
            const key = `${job.queue}\u0000${job.kind}`;
            const batched = this.handlers.get(job.kind)?.performMany !== undefined;
            const g = batched ? open.get(key) : undefined;
            if (g !== undefined && sizes[g]! < (batchOf.get(key) ?? 1)) {
              sizes[g]!++;
              groupOf.set(job.id, g);
              jobsLeft--;
              return true;
            }
            const f = free.get(job.queue) ?? s.perQueue - (busy.get(job.queue) ?? 0);
            if (f <= 0 || slotsLeft <= 0) return false;
            free.set(job.queue, f - 1);
            slotsLeft--;
            jobsLeft--;
            groupOf.set(job.id, sizes.length);
            if (batched) open.set(key, sizes.length);
            sizes.push(1);
            return true;
          };
          const widest = Math.max(1, ...batchOf.values());
          const wakesBefore = wakes;
          const jobs = await leaseBatch(this.d.sql, {
            owner: this.d.workerId,
            now: this.d.clock.now(),
            leaseSeconds: s.leaseSeconds,
            take,
            fullQueues: full,
            // No more candidates than one queue's free slots can take: every candidate is locked
            // (FOR UPDATE) whether taken or not, and a full queue is left out of the next lease.
            limit: Math.min(Math.min(room, s.perQueue) * widest, limit - started),
          });
          groups = sizes.map(() => []);
          for (const job of jobs) groups[groupOf.get(job.id)!]!.push(job);
          groups = groups.filter((g) => g.length > 0);
          stale = wakes !== wakesBefore;
          exhausted = slotsLeft > 0 && jobsLeft > 0 && !stale;
          lastLease = Date.now();
        }
        for (const group of groups) {
          const queue = group[0]!.queue;
          started += group.length;
          for (const job of group) leased.set(job.id, job);
          busy.set(queue, (busy.get(queue) ?? 0) + 1);
          busyTotal++;
          const release = () => {
            busy.set(queue, (busy.get(queue) ?? 1) - 1);
            busyTotal--;
            wake();
          };
          // A store failure while recording is kept and thrown once the others are settled.
          const p: Promise<void> = this.run(group, result, release, recorder.record, batchOf)
            .catch((e: unknown) => {
              storeError ??= e;
            })
            .finally(() => {
              for (const job of group) leased.delete(job.id);
              running.delete(p);
              // A recorded outcome may unblock the next job of its subject (a revoke queued
              // behind an apply in flight): look again rather than end the run throttled.
              wake();
            });
          running.add(p);
        }
        if (groups.length > 0 || pendingTasks.length > 0) continue;
        if (running.size === 0 && busyTotal > 0) {
          lingerSince ??= Date.now();
          if (Date.now() - lingerSince < s.timeoutSeconds * 1000) {
            await sleep(200);
            continue;
          }
        }
        lingerSince = undefined;
        if (running.size === 0) {
          if (stale) continue;
          const rest = restTasks.shift();
          if (!rest) break;
          for (let more = true; more;) {
            const r = await rest.run(this.d.clock.now());
            result.periodic[rest.name] = (result.periodic[rest.name] ?? 0) + r.count;
            more = r.more;
            // Work at rest may queue jobs too (ITSM write-back): lease again before ending.
            if (r.count > 0) wake();
          }
          continue;
        }
        // Wait for an outcome (which may free a slot or unblock the next job of a subject), but
        // look again soon in case a slot freed by a timed-out call settling late.
        await Promise.race([...running, sleep(200)]);
      }
    } finally {
      clearInterval(renewal);
    }
    if (storeError !== undefined) throw storeError;
    return result;
  }

  /**
   * A group of jobs of one kind and queue (one job, unless its handler has performMany): the work
   * under the timeout, then each job's outcome, recorded on its own.
   */
  private async run(
    jobs: Job[],
    result: RunResult,
    release: () => void,
    record: Recorder,
    batchOf: Map<string, number>,
  ): Promise<void> {
    const first = jobs[0]!;
    const h = this.handlers.get(first.kind);
    let outcomes: Settled<unknown>[];
    if (!h) {
      release();
      const error = new Error(`no handler for job kind "${first.kind}"`);
      outcomes = jobs.map(() => ({ ok: false, error }));
    } else {
      const work: Promise<Settled<unknown>[]> = Promise.resolve().then(async () =>
        h.performMany ? h.performMany(jobs) : [{ ok: true, value: await h.perform(first) }],
      );
      // The slot is freed when the work itself settles, not when we stop waiting for it.
      work.then(release, release);
      try {
        outcomes = await bounded(work, this.settings.timeoutSeconds, `${first.queue}`);
      } catch (error) {
        outcomes = jobs.map(() => ({ ok: false, error }));
      }
      if (h.performMany) {
        const key = `${first.queue}\u0000${first.kind}`;
        const whole = outcomes.every((o) => o.ok);
        batchOf.set(
          key,
          whole ? Math.min(this.settings.batchSize, 2 * (batchOf.get(key) ?? 1)) : 1,
        );
      }
    }
    const now = this.d.clock.now();
    await Promise.all(
      jobs.map((job, i) => this.recordOutcome(job, h, outcomes[i]!, now, result, record)),
    );
  }

  /** One job's outcome, in the recorder's next transaction. */
  private async recordOutcome(
    job: Job,
    h: JobHandler | undefined,
    outcome: Settled<unknown>,
    now: Date,
    result: RunResult,
    record: Recorder,
  ): Promise<void> {
    const owner = this.d.workerId;
    const lock =
      h?.lockSubjects && job.subject ? { fn: h.lockSubjects, subject: job.subject } : undefined;
    if (outcome.ok) {
      const value = outcome.value;
      await record(
        async (tx) => {
          if (!(await completeJob(tx, job, owner, now))) return false;
          await h!.succeeded(tx, job, now, value);
          return true;
        },
        () => result.done++,
        lock,
        h?.succeededMany ? { fn: h.succeededMany, job, now, result: value } : undefined,
      );
      return;
    }
    const e = outcome.error;
    // The message reaches the job row, the grant's failure field and the audit: never a secret.
    const error = scrubSecrets(e instanceof Error ? e.message : String(e));
    const permanent = e instanceof TargetError && !e.retryable;
    const policy = h?.retry ?? { maxAttempts: 1, backoffSeconds: () => 0 };
    const final =
      (permanent && policy.maxAttempts !== Infinity) || job.attempts >= policy.maxAttempts;
    const nextAt = final ? null : addSeconds(now, nextDelay(policy, job.attempts, e));
    const failure: Failure = { error, permanent, final, attempts: job.attempts, nextAt };
    await record(
      async (tx) => {
        const ok = final
          ? await failJob(tx, job, owner, now, error)
          : await retryJob(tx, job, owner, nextAt!, error);
        if (!ok) return false;
        if (h) await h.failed(tx, job, now, failure);
        return true;
      },
      () => {
        result.failed++;
        result.failures.push({
          kind: job.kind,
          subject: job.subject,
          queue: job.queue,
          attempts: job.attempts,
          error,
          final,
          next_attempt_at: nextAt?.toISOString() ?? null,
        });
      },
      lock,
    );
  }
}
