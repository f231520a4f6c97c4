// The binary's command index (names, options, help texts) is generated from the built command
// table, so `gatehouse --help` need not load the commands (src/cli/command-index.ts, ADR 0041).
import { writeCommandIndex } from '../dist/cli/command-index-build.js';
writeCommandIndex();
