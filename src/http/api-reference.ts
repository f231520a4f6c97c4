import type { Gatehouse } from '../app/gatehouse.js';
import { buildServer } from './server.js';

/** The parts of an OpenAPI 3.1 document the reference reads. */
interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  description?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
}
interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema: Schema;
}
interface Operation {
  summary?: string;
  description?: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

/**
 * The document `/api/openapi.json` serves, from the real route registration (buildServer) but
 * without a store or a listening socket: registering routes calls no use case, so the application
 * is a stand-in that fails loudly if anything ever does.
 */
export async function openApiDocument(): Promise<OpenApiDocument> {
  const none = new Proxy(
    {},
    {
      get: (_, key) => {
        throw new Error(`building the API reference needs no application (${String(key)})`);
      },
    },
  ) as Gatehouse;
  const server = await buildServer(none, { schemaVersion: 0 });
  try {
    await server.ready();
    return server.swagger() as unknown as OpenApiDocument;
  } finally {
    await server.close();
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A schema as one short phrase: `string (1–200)`, `"done" | "failed"`, `array of object`. */
export function typeOf(s: Schema): string {
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' or ');
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const types = [s.type ?? 'any'].flat();
  const named = types.map((t) => (t === 'array' ? `array of ${typeOf(s.items ?? {})}` : t));
  const bounds = (lo: number | undefined, hi: number | undefined, unit: string) =>
    lo === undefined && hi === undefined
      ? ''
      : lo === undefined
        ? ` (at most ${hi}${unit})`
        : hi === undefined
          ? ` (at least ${lo}${unit})`
          : ` (${lo}–${hi}${unit})`;
  const limits =
    bounds(s.minLength, s.maxLength, ' chars') +
    bounds(s.minimum, s.maximum, '') +
    bounds(s.minItems, s.maxItems, ' items');
  return `${named.join(' or ')}${s.format ? ` (${s.format})` : ''}${limits}`;
}

function fields(s: Schema): string[] {
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {}).map(
    ([name, f]) =>
      `| \`${name}\` | ${cell(typeOf(f))} | ${required.has(name) ? 'yes' : 'no'} | ${cell(f.description ?? '')} |`,
  );
}

function operation(method: string, path: string, op: Operation): string[] {
  const scopes = /^Scopes: (.*)\.$/.exec(op.description ?? '')?.[1] ?? 'none';
  const out = [
    `### ${method.toUpperCase()} ${path}`,
    '',
    `${op.summary ?? ''}`,
    '',
    `Scopes: ${scopes}.`,
  ];
  const params = op.parameters ?? [];
  if (params.length > 0)
    out.push(
      '',
      '| parameter | in | type | required |',
      '| --- | --- | --- | --- |',
      ...params.map(
        (p) =>
          `| \`${p.name}\` | ${p.in} | ${cell(typeOf(p.schema))} | ${p.required ? 'yes' : 'no'} |`,
      ),
    );
  const body = op.requestBody?.content['application/json']?.schema;
  if (body) {
    const rows = fields(body);
    out.push(
      '',
      rows.length > 0 ? 'Request body (JSON; any other field is refused):' : 'Request body: `{}`.',
    );
    if (rows.length > 0)
      out.push('', '| field | type | required | notes |', '| --- | --- | --- | --- |', ...rows);
  }
  const statuses = Object.keys(op.responses).sort();
  const ok = statuses.filter((s) => s.startsWith('2'));
  const errors = statuses.filter((s) => !s.startsWith('2'));
  for (const status of ok) {
    const [type, media] = Object.entries(op.responses[status]!.content ?? {})[0] ?? [];
    const rows = media ? fields(media.schema) : [];
    out.push(
      '',
      `Answer ${status}${type ? ` (\`${type}\`${type.includes('ndjson') ? ', one line' : ''})` : ''}:`,
    );
    if (rows.length > 0)
      out.push('', '| field | type | always | notes |', '| --- | --- | --- | --- |', ...rows);
  }
  if (errors.length > 0) out.push('', `Errors: ${errors.join(', ')}, in the error shape.`);
  return out;
}

/** The Markdown reference: every operation of the document, in path order. */
export function renderApiReference(doc: OpenApiDocument): string {
  const ops = Object.entries(doc.paths)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([path, methods]) =>
      Object.entries(methods)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([method, op]) => ({ path, method, op })),
    );
  const lines = [
    '# API reference',
    '',
    '<!-- Generated by `npm run docs:api` from /api/openapi.json; do not edit by hand. -->',
    '',
    'Every operation of the OpenAPI document that `gatehouse serve` publishes at',
    '`/api/openapi.json`, built from the same schemas that validate each call. How to call the',
    'API, tokens and scopes, paging and the error shape: [api.md](api.md). Every operation needs',
    '`Authorization: Bearer TOKEN` (or a session cookie) with one of the scopes named.',
    '',
    '| operation | scopes | summary |',
    '| --- | --- | --- |',
    ...ops.map(
      ({ path, method, op }) =>
        `| [\`${method.toUpperCase()} ${path}\`](#${anchor(method, path)}) | ${cell(/^Scopes: (.*)\.$/.exec(op.description ?? '')?.[1] ?? 'none')} | ${cell(op.summary ?? '')} |`,
    ),
  ];
  for (const { path, method, op } of ops) lines.push('', ...operation(method, path, op));
  return `${lines.join('\n')}\n`;
}

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
function anchor(method: string, path: string): string {
  return `${method} ${path}`
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}
