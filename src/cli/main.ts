#!/usr/bin/env node
import '../v8-flags.js';
import { commandOf, runCli } from './run.js';
import { tierForCommand } from './wasm-tiering.js';

const argv = process.argv.slice(2);
tierForCommand(commandOf(argv)?.name);
const code = await runCli(
  argv,
  { stdout: (t) => process.stdout.write(`${t}\n`), stderr: (t) => process.stderr.write(`${t}\n`) },
  { env: process.env, cwd: process.cwd() },
);
process.exitCode = code;
