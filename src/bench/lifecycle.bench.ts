/**
 * Provisioning and expiry on their own (issue 6's targets); the code is the suite's
 * (scenarios/lifecycle.ts), so `npm run bench -- --scenario provision` measures the same.
 *
 *   npm run bench:lifecycle                       (store: PGlite; target: the local server)
 *   DATABASE_URL=postgres://… npm run bench:lifecycle   (store on the server too)
 *   BENCH_PROVISION=10000 BENCH_EXPIRE=100000     (sizes; the defaults)
 */
import '../v8-flags.js';
import { runLifecycle } from './scenarios/lifecycle.js';

await runLifecycle(
  {
    provision: Number(process.env.BENCH_PROVISION ?? 10_000),
    expire: Number(process.env.BENCH_EXPIRE ?? 100_000),
  },
  (line) => console.log(line),
);
