#!/usr/bin/env node
import '../v8-flags.js';
import { commandNameOf, dataOptionOf, helpAsked, readCommandIndex } from './command-index.js';
import { exitWhenFlushed } from './exit.js';
import { tierForCommand } from './wasm-tiering.js';

const argv = process.argv.slice(2);
// The commands, their use cases and their imports are most of what a command loads: help is
// printed, and the store's WebAssembly set compiling, from the build's index before any of them
// loads (ADR 0041). Without an index (a build by tsc alone) the command table answers instead.
const index = readCommandIndex();
const name = index
  ? commandNameOf(
      argv,
      index.options,
      index.commands.map((c) => c.name),
    )
  : (await import('./run.js')).commandOf(argv)?.name;
const help = index ? helpAsked(argv, name) : undefined;
if (index && help !== undefined) {
  process.stdout.write(`${help === null ? index.overview : index.help[help]}\n`);
} else {
  tierForCommand(name);
  if (index?.commands.find((c) => c.name === name)?.store && !process.env.DATABASE_URL) {
    // Not when a serve holds the store: the command is sent there, and compiling PGlite here
    // would take a core from the server answering it.
    const { serveHolds } = await import('./forward.js');
    const cwd = process.cwd();
    if (!serveHolds({ env: process.env, cwd }, dataOptionOf(argv, index.options))) {
      const { compilePgliteWasm } = await import('../store/pglite-wasm.js');
      void compilePgliteWasm();
    }
  }
  const { runCli } = await import('./run.js');
  exitWhenFlushed(
    await runCli(
      argv,
      {
        stdout: (t) => process.stdout.write(`${t}\n`),
        stderr: (t) => process.stderr.write(`${t}\n`),
      },
      { env: process.env, cwd: process.cwd() },
    ),
  );
}
