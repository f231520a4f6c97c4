import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testStore } from '../../store/test-store.js';
import { fixedClock } from '../clock.js';
import { addSeconds } from '../duration.js';
import type { Sql } from '../sql.js';
import { TargetError } from '../errors.js';
import { LEASE_PLANNER, enqueue } from './queue.js';
import { type Failure, type JobHandler, JobRuntime } from './runtime.js';

/** A job kind whose work throws `error` (or never answers), recording what the runtime told it. */
function kind(
  name: string,
  maxAttempts: number,
  work: () => Promise<void>,
  seen: Failure[],
): JobHandler<void> {
  return {
    kind: name,
    retry: { maxAttempts, backoffSeconds: () => 30 },
    perform: work,
    succeeded: async () => undefined,
    failed: async (_tx, _job, _now, f) => {
      seen.push(f);
    },
  };
}

test('errors are classified: a permanent one gives the job up at once, a retryable one waits at least as long as the target asked, a job that must never stop goes on, and a call that never answers times out', async () => {
  const store = await testStore();
  try {
    const { sql } = store;
    const at = new Date('2026-03-02T09:00:00.000Z');
    const clock = fixedClock(at);
    const seen: Record<string, Failure[]> = { permanent: [], busy: [], forever: [], hung: [] };
    const rt = new JobRuntime({ sql, clock, workerId: 'rt-test' }, { timeoutSeconds: 1 })
      .handle(
        kind(
          'test.permanent',
          5,
          () => Promise.reject(new TargetError('no such role', { retryable: false })),
          seen.permanent!,
        ),
      )
      .handle(
        kind(
          'test.busy',
          5,
          () => Promise.reject(new TargetError('slow down', { retryAfterSeconds: 7200 })),
          seen.busy!,
        ),
      )
      .handle(
        kind(
          'test.forever',
          Infinity,
          () => Promise.reject(new TargetError('gone', { retryable: false })),
          seen.forever!,
        ),
      )
      .handle(kind('test.hung', 5, () => new Promise<void>(() => undefined), seen.hung!));
    await sql.transaction(async (tx) => {
      for (const k of ['permanent', 'busy', 'forever', 'hung'])
        await enqueue(tx, at, { kind: `test.${k}`, subject: k, queue: k, dedupeKey: k, dueAt: at });
      // The same work enqueued again while unfinished is the same job.
      assert.equal(
        await enqueue(tx, at, { kind: 'test.busy', dedupeKey: 'busy', dueAt: at }),
        false,
      );
    });

    const r = await rt.drain();
    assert.equal(r.done, 0);
    assert.equal(r.failed, 4);
    const jobs = await sql.query<{ kind: string; state: string; attempts: number; due_at: Date }>(
      'SELECT kind, state, attempts, due_at FROM jobs ORDER BY id',
    );
    assert.equal(jobs.length, 4, 'one job per dedupe key');
    const byKind = Object.fromEntries(jobs.map((j) => [j.kind, j]));

    assert.equal(byKind['test.permanent']!.state, 'failed', 'not retried');
    assert.deepEqual(
      { permanent: seen.permanent![0]!.permanent, final: seen.permanent![0]!.final },
      { permanent: true, final: true },
    );

    assert.equal(byKind['test.busy']!.state, 'pending');
    assert.ok(
      new Date(byKind['test.busy']!.due_at) >= addSeconds(at, 7200),
      'the next attempt honours the target’s Retry-After over the 30 s backoff',
    );

    assert.equal(byKind['test.forever']!.state, 'pending', 'a revocation-like job never gives up');
    assert.deepEqual(
      { permanent: seen.forever![0]!.permanent, final: seen.forever![0]!.final },
      { permanent: true, final: false },
    );

    assert.equal(byKind['test.hung']!.state, 'pending');
    assert.match(seen.hung![0]!.error, /no answer within 1 s/);
    assert.equal(seen.hung![0]!.final, false, 'a timeout is worth retrying');
  } finally {
    await store.close();
  }
});

test('a job unblocked while a lease was under way runs in the same drain, not the next', async () => {
  const store = await testStore();
  try {
    const at = new Date('2026-03-02T09:00:00.000Z');
    let firstInFlight = false;
    // A lease that began while the first job was in flight answers only once that job's outcome
    // is recorded: it read the queue with the first job still pending and the second behind it.
    const sql: Sql = {
      query: (text, params) => store.sql.query(text, params),
      async transaction(fn) {
        let lease = false;
        const during = firstInFlight;
        const out = await store.sql.transaction((tx) =>
          fn({
            query: (text, params) => {
              if (text === LEASE_PLANNER) lease = true;
              return tx.query(text, params);
            },
            transaction: (inner) => tx.transaction(inner),
          }),
        );
        if (lease && during) {
          for (;;) {
            const [first] = await store.sql.query<{ state: string }>(
              'SELECT state FROM jobs WHERE dedupe_key = $1',
              ['first'],
            );
            if (first?.state === 'done') break;
            await new Promise((r) => setTimeout(r, 20));
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        return out;
      },
    };
    const ran: string[] = [];
    const rt = new JobRuntime({ sql, clock: fixedClock(at), workerId: 'rt-test' }).handle({
      kind: 'test.ordered',
      retry: { maxAttempts: 3, backoffSeconds: () => 30 },
      async perform(job) {
        const key = String(job.payload.key);
        ran.push(key);
        if (key !== 'first') return;
        // Long enough for the drain to lease again while this runs (it re-leases at most once a second).
        firstInFlight = true;
        await new Promise((r) => setTimeout(r, 1300));
        firstInFlight = false;
      },
      succeeded: async () => undefined,
      failed: async () => undefined,
    });
    await store.sql.transaction(async (tx) => {
      for (const key of ['first', 'second'])
        await enqueue(tx, at, {
          kind: 'test.ordered',
          payload: { key },
          subject: 's',
          queue: 'q',
          dedupeKey: key,
          dueAt: at,
        });
    });
    const r = await rt.drain();
    assert.deepEqual(ran, ['first', 'second']);
    assert.equal(r.done, 2);
  } finally {
    await store.close();
  }
});
