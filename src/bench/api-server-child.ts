/**
 * The suite's `api` scenario in a process of its own, as `serve` runs: the API's server here
 * shares its heap with nothing else. In the suite's process it shared it with what the scenarios
 * before it and the generated organisation left, and that heap's old-generation collections,
 * marking on the second core, took the local PostgreSQL's CPU and stalled 20 paced calls at a
 * time (ADR 0060). Run by measureApiApart (api-run.ts) with one ApiBenchOptions job; answers with the
 * result, its store's kind and this process's peak resident memory.
 */
import '../v8-flags.js';
import { type ApiBenchOptions, type ApiBenchResult, measureApi } from './api-run.js';
import { answerJob } from './child-job.js';
import { mb } from './suite/measure.js';
import { benchStore } from './suite/store.js';

answerJob(async (opts: ApiBenchOptions) => {
  const store = await benchStore('api');
  let result: ApiBenchResult;
  try {
    result = await measureApi(store.sql, opts);
  } finally {
    await store.close();
  }
  return { result, storeKind: store.kind, peakRssMb: mb(process.resourceUsage().maxRSS * 1024) };
});
