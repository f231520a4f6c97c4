import openapiTS, { astToString } from 'openapi-typescript';
import type { Gatehouse } from '../app/gatehouse.js';
import { buildServer } from '../http/server.js';

const HEADER =
  '// Generated from /api/openapi.json by scripts/ui-types.mjs (openapi-typescript): do not edit.\n';

/** The TypeScript paths of the API's OpenAPI document, as the UI's typed client uses them. */
export async function uiTypes(): Promise<string> {
  // The document is made from the route table alone: no store is opened or called.
  const server = await buildServer({} as Gatehouse, { schemaVersion: 0 });
  try {
    await server.ready();
    const doc = server.swagger() as Parameters<typeof openapiTS>[0];
    return HEADER + astToString(await openapiTS(doc));
  } finally {
    await server.close();
  }
}
