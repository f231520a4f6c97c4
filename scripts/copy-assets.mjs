// SQL migrations and the demo organisation are data, not code: tsc does not copy them.
import { cpSync } from 'node:fs';
cpSync('src/store/migrations', 'dist/store/migrations', { recursive: true });
cpSync('src/demo/acme', 'dist/demo/acme', { recursive: true });
cpSync('src/demo/hr', 'dist/demo/hr', { recursive: true });
