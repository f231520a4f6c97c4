// The UI's API types come from the server's own OpenAPI document (openapi-typescript), so a
// changed schema in src/http/shapes.ts shows up as a type error in ui/ (ui-types.test checks
// the committed file is current). Run after `npm run build`: node scripts/ui-types.mjs
import { writeFileSync } from 'node:fs';
import { uiTypes } from '../dist/testing/ui-types.js';

writeFileSync('ui/src/schema.d.ts', await uiTypes());
console.log('wrote ui/src/schema.d.ts');
