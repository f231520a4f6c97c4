// Regenerates docs/api-reference.md from the OpenAPI document the routes build (run after a build).
import { writeFileSync } from 'node:fs';
import prettier from 'prettier';
import { openApiDocument, renderApiReference } from '../dist/http/api-reference.js';

const file = 'docs/api-reference.md';
const markdown = renderApiReference(await openApiDocument());
const options = { ...(await prettier.resolveConfig(file)), filepath: file };
writeFileSync(file, await prettier.format(markdown, options));
console.log(`wrote ${file}`);
