/**
 * The suite's `api` scenario in a process of its own, as `serve` runs: the API's server here
 * shares its heap with nothing else. In the suite's process it shared it with what the scenarios
 * before it and the generated organisation left, and that heap's old-generation collections,
 * marking on the second core, took the local PostgreSQL's CPU and stalled 20 paced calls at a
 * time (ADR 0060). Forked by measureApiApart (api-run.ts) with one ApiBenchOptions message; answers
 * with the result and this process's peak resident memory.
 */
import '../v8-flags.js';
import { type ApiBenchOptions, measureApi } from './api-run.js';
import { mb } from './suite/measure.js';
import { benchStore } from './suite/store.js';

async function measure(opts: ApiBenchOptions) {
  const store = await benchStore('api');
  try {
    return { result: await measureApi(store.sql, opts), storeKind: store.kind };
  } finally {
    await store.close();
  }
}

process.once('message', (opts: ApiBenchOptions) => {
  measure(opts).then(
    ({ result, storeKind }) => {
      const peakRssMb = mb(process.resourceUsage().maxRSS * 1024);
      process.send!({ ok: true, result, peakRssMb, storeKind }, () => process.exit(0));
    },
    (e: unknown) =>
      process.send!({ ok: false, error: String((e as Error).stack ?? e) }, () => process.exit(1)),
  );
});
