// SQL migrations and the demo organisation are data, not code: tsc does not copy them.
import { cpSync, existsSync } from 'node:fs';
cpSync('src/store/migrations', 'dist/store/migrations', { recursive: true });
if (existsSync('src/demo/acme')) cpSync('src/demo/acme', 'dist/demo/acme', { recursive: true });
