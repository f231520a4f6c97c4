// Regenerates src/store/schema.sql from a freshly migrated embedded store (run after a build).
import { writeFileSync } from 'node:fs';
import { testStore } from '../dist/store/test-store.js';
import { dumpSchema } from '../dist/store/schema-dump.js';

delete process.env.DATABASE_URL;
const store = await testStore();
try {
  writeFileSync('src/store/schema.sql', await dumpSchema(store.sql));
} finally {
  await store.close();
}
console.log('wrote src/store/schema.sql');
