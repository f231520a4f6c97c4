/**
 * One job for a child process of the benchmark, and its one answer: the load generator
 * (api-load.ts) and the API's server of the suite (api-server-child.ts) each run in a process of
 * their own so as not to share an event loop or a heap with what they measure or serve.
 */
import { fork } from 'node:child_process';

type Answer<T> = { ok: true; result: T } | { ok: false; error: string };

/**
 * Forks `file`, sends it `job` and resolves with what it answers (`answerJob`); rejects with the
 * child's error, if it exits without answering, or, past `boundSeconds`, kills it.
 */
export function runJob<T>(
  file: string,
  job: unknown,
  what: string,
  boundSeconds?: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(file, [], { stdio: 'inherit' });
    let answered = false;
    const timer =
      boundSeconds === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`${what} ran over ${boundSeconds} s`));
          }, boundSeconds * 1000);
    child.once('message', (m: Answer<T>) => {
      answered = true;
      clearTimeout(timer);
      if (m.ok) resolve(m.result);
      else reject(new Error(m.error));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!answered) reject(new Error(`${what} exited with ${code}`));
    });
    child.send(job as object);
  });
}

/** The child's side of runJob: one job in, `work`'s result (or its failure) out, then exit. */
export function answerJob<J, T>(work: (job: J) => Promise<T>): void {
  process.once('message', (job: J) => {
    const answer = (a: Answer<T>, code: number) => process.send!(a, () => process.exit(code));
    work(job).then(
      (result) => answer({ ok: true, result }, 0),
      (e: unknown) => answer({ ok: false, error: String((e as Error).stack ?? e) }, 1),
    );
  });
}
