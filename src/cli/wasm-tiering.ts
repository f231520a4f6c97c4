import { setFlagsFromString } from 'node:v8';

/**
 * Commands whose work grows with the store (or that serve): their WebAssembly earns V8's
 * optimising tier. Every other command holds PGlite for a moment.
 */
export const LONG_RUNNING: ReadonlySet<string> = new Set([
  'serve',
  'demo',
  'init',
  'audit verify',
  'audit export',
  'identities sync',
  'reconcile',
  'report',
  'sweep',
]);

/**
 * A brief command keeps PGlite's WebAssembly in V8's baseline compiler (Liftoff). With dynamic
 * tiering on, the functions PostgreSQL runs hot while it starts are recompiled by TurboFan on
 * background threads, and the process then waits for those compilations before it can exit:
 * measured, that doubled a one-query open's CPU and wall time (ADR 0036). The budget is set to
 * its maximum rather than `--liftoff-only`, so a function Liftoff cannot compile still falls back
 * to TurboFan instead of aborting the process. Set by the binary's entry point only, before
 * anything compiles WebAssembly: the flag is process-wide, and in-process callers (tests, serve's
 * command channel) keep the default.
 */
export function tierForCommand(command: string | undefined): void {
  if (command !== undefined && !LONG_RUNNING.has(command))
    setFlagsFromString('--wasm-tiering-budget=2147483647');
}
