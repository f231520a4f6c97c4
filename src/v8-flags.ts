import { setFlagsFromString } from 'node:v8';

// Node 20's V8 aborts the process ("Fatal error … unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when an inlined EventEmitter.emit deoptimises inside
// node-postgres after a few thousand decisions (reproduced by `npm run bench`). Turning inlining
// off before any code is optimised avoids it. Imported first by every entry point.
setFlagsFromString('--no-turbo-inlining');
