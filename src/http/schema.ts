import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { InputError } from '../core/errors.js';

/**
 * One declaration per route part: a zod schema validates (strictly: unknown fields are refused)
 * and its JSON Schema, made from it here, is what the route declares and the OpenAPI document
 * shows. The route's JSON Schema object leads back to its zod schema, so Fastify's validator is
 * the zod schema itself and the two cannot drift.
 */
const ZOD = new WeakMap<object, z.ZodType>();

export type JsonSchema = Record<string, unknown>;

export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  ZOD.set(json, schema);
  return json;
}

/** The first problem of a failed parse as one line naming the field, e.g. `reason: …`. */
export function inputErrorOf(error: z.ZodError, part: string): InputError {
  // An unknown field is named first: it is the likelier mistake (a misspelt name) behind the rest.
  const issue = error.issues.find((i) => i.code === 'unrecognized_keys') ?? error.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0]!].join('.');
    return new InputError(`${field}: unknown field (the ${part} has no such field)`, {
      code: 'unknown_field',
      field,
    });
  }
  const field = path.length > 0 ? path.join('.') : part;
  return new InputError(`${field}: ${issue.message}`, { code: 'invalid_input', field });
}

const PART: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'headers',
};

/** Fastify's validator for every route: the zod schema behind the declared JSON Schema. */
export const zodValidator: FastifySchemaCompiler<JsonSchema> = ({ schema, httpPart }) => {
  const zod = ZOD.get(schema);
  if (!zod) throw new Error(`route schema not made by jsonSchema() (${httpPart ?? '?'})`);
  const part = PART[httpPart ?? ''] ?? 'input';
  return (data: unknown) => {
    // A POST without a body is an empty object: `{ comment }` is optional on approve.
    const r = zod.safeParse(httpPart === 'body' && data === undefined ? {} : data);
    return r.success ? { value: r.data } : { error: inputErrorOf(r.error, part) };
  };
};
