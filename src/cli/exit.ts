/**
 * Ends the process with `code` once stdout and stderr have taken everything written to them, if
 * nothing else is pending; otherwise leaves the exit to Node. A natural exit also tears down the
 * heap, PGlite's WebAssembly memory and the compiled module, which a brief command pays for after
 * its answer is printed (ADR 0041). Anything still open besides the output streams (a timer, a
 * socket, a child process, a file operation) is left to finish as before.
 */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  const pending = process.getActiveResourcesInfo();
  if (pending.length > 2 || !pending.every((r) => r === 'TTYWrap' || r === 'PipeWrap')) return;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
