import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PGliteOptions } from '@electric-sql/pglite';

/** Node's global; the TypeScript libraries this project builds with (no DOM) do not declare it. */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<PGliteWasmModule> };
export type PGliteWasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;

let compiling: Promise<PGliteWasmModule> | undefined;

/**
 * PGlite's WebAssembly, compiled once per process on V8's background threads. The binary starts
 * it before it loads the command and the use cases (ADR 0041), `openStore` before it loads
 * PGlite's JavaScript (ADR 0036): either way the compilation overlaps the main thread's loading.
 * Started only after the tiering flags of the command are set: they apply at compile time.
 */
export function compilePgliteWasm(): Promise<PGliteWasmModule> {
  if (!compiling) {
    compiling = readFile(
      fileURLToPath(import.meta.resolve('@electric-sql/pglite/pglite.wasm')),
    ).then((bytes) => WebAssembly.compile(bytes));
    // Awaited by openStore; a command that never opens the store (forwarded to a serve, or
    // refused first) must not die of an unhandled rejection.
    compiling.catch(() => undefined);
  }
  return compiling;
}
