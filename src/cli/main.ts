#!/usr/bin/env node
import '../v8-flags.js';
import { runCli } from './run.js';

const code = await runCli(
  process.argv.slice(2),
  { stdout: (t) => process.stdout.write(`${t}\n`), stderr: (t) => process.stderr.write(`${t}\n`) },
  { env: process.env, cwd: process.cwd() },
);
process.exitCode = code;
