import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Policy } from '../core/model.js';
import type { LoadContext } from './context.js';
import type { ConfigFile } from './files.js';
import { unstorable } from './unstorable.js';

/** The only actions Gatehouse evaluates (PRODUCT.md section 3, steps 2 and 5). */
const ACTIONS = ['request', 'auto_approve'];

/** Cedar reports UTF-8 byte offsets; counting on characters would drift after any non-ASCII text. */
function lineAtByte(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = 0; i < Math.min(offset, bytes.length); i++) if (bytes[i] === 0x0a) line++;
  return line;
}

function lineAtChar(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 0x0a) line++;
  return line;
}

function reportParseErrors(
  file: ConfigFile,
  errors: cedar.DetailedError[],
  ctx: LoadContext,
): void {
  const bytes = Buffer.from(file.text, 'utf8');
  for (const e of errors) {
    const loc = e.sourceLocations?.[0];
    if (loc) {
      const label = loc.label ? ` (${loc.label})` : '';
      const message = e.message.replace(/^failed to parse policies from string: /, '');
      ctx.issues.error(
        { file: file.rel, line: lineAtByte(bytes, loc.start) },
        `${message}${label}`,
      );
      continue;
    }
    // Cedar names no place when the set holds a template; find the templates ourselves.
    const parts = cedar.policySetTextToParts(file.text);
    const templates = parts.type === 'success' ? parts.policy_templates : [];
    for (const t of templates) {
      ctx.issues.error(
        { file: file.rel, line: lineAtChar(file.text, Math.max(0, file.text.indexOf(t))) },
        'templates (?principal, ?resource) are not supported; write a static policy',
      );
    }
    if (templates.length === 0) ctx.issues.error({ file: file.rel, line: 1 }, e.message);
  }
}

function entityName(uid: cedar.EntityUidJson): string {
  const { type, id } = '__entity' in uid ? uid.__entity : uid;
  return `${type}::${JSON.stringify(id)}`;
}

function namedActions(action: cedar.ActionConstraint): string[] {
  if (action.op === 'All') return [];
  if ('entities' in action) return action.entities.map(entityName);
  return 'entity' in action ? [entityName(action.entity)] : [];
}

function toPolicy(
  part: string,
  start: number,
  file: ConfigFile,
  ctx: LoadContext,
): Policy | undefined {
  const json = cedar.policyToJson(part);
  if (json.type === 'failure') {
    ctx.issues.error(
      { file: file.rel, line: lineAtChar(file.text, start) },
      json.errors[0]?.message ?? 'invalid policy',
    );
    return undefined;
  }
  const annotations = json.json.annotations ?? {};
  const id: unknown = annotations['id'];
  const reason: unknown = annotations['reason'];
  const idAt = /@id\s*\(/.exec(part);
  const line = lineAtChar(file.text, start + (idAt?.index ?? 0));
  if (typeof id !== 'string' || id === '') {
    ctx.issues.error(
      { file: file.rel, line },
      'policy has no @id("...") annotation; every policy needs one to be named in decisions',
    );
    return undefined;
  }
  ctx.reg.policies.define(id, { file: file.rel, line }, '@id', ctx.issues);
  const unknown = namedActions(json.json.action).filter(
    (a) => !ACTIONS.some((x) => a === `Action::"${x}"`),
  );
  if (unknown.length > 0) {
    ctx.issues.warn(
      { file: file.rel, line },
      `policy "${id}" names ${unknown.join(', ')}; Gatehouse only evaluates Action::"request" and Action::"auto_approve"`,
    );
  }
  return {
    id,
    text: part,
    reason: typeof reason === 'string' ? reason : null,
    file: file.rel,
    line,
  };
}

/** Nesting (brackets and `if`) and operators one policy may hold; far beyond any real policy. */
const MAX_NESTING = 32;
const MAX_OPERATORS = 2000;

/**
 * Cedar's parser recurses on nesting and long operator chains; past ~150 levels it overflows the
 * WebAssembly stack, and after that the module fails every call in the process (the decision
 * engine shares it). So such text is refused here, before Cedar ever sees it.
 */
export function tooComplex(text: string): { line: number; message: string } | undefined {
  let line = 1;
  let depth = 0;
  let ifs = 0;
  let operators = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    else if (c === '"') {
      // A string literal: its brackets and dots are text.
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '\n') line++;
      }
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth = Math.max(0, depth - 1);
    else if (c === ';' && depth === 0) {
      ifs = 0;
      operators = 0;
    } else if ('.+-*!<>=&|'.includes(c)) operators++;
    else if (c === 'i' && text.startsWith('if', i) && !/\w/.test(text[i - 1] ?? ' ')) {
      if (!/\w/.test(text[i + 2] ?? ' ')) ifs++;
    }
    if (depth + ifs > MAX_NESTING)
      return { line, message: `expressions are nested more than ${MAX_NESTING} deep` };
    if (operators > MAX_OPERATORS)
      return { line, message: `a policy holds more than ${MAX_OPERATORS} operators` };
  }
  return undefined;
}

/** policies/*.cedar: eligibility and auto-approval policies, each named by its @id. */
export function loadPolicies(files: ConfigFile[], ctx: LoadContext): Policy[] {
  const out: Policy[] = [];
  for (const file of files) {
    const bad = unstorable(file.text);
    if (bad) {
      ctx.issues.error({ file: file.rel, line: 1 }, `the file holds ${bad}`);
      continue;
    }
    const complex = tooComplex(file.text);
    if (complex) {
      ctx.issues.error({ file: file.rel, line: complex.line }, complex.message);
      continue;
    }
    const check = cedar.checkParsePolicySet({ staticPolicies: file.text });
    if (check.type === 'failure') {
      reportParseErrors(file, check.errors, ctx);
      continue;
    }
    const parts = cedar.policySetTextToParts(file.text);
    if (parts.type === 'failure') {
      reportParseErrors(file, parts.errors, ctx);
      continue;
    }
    let cursor = 0;
    for (const part of parts.policies) {
      // Parts are verbatim slices of the file, in order; locating each gives its line.
      const start = Math.max(0, file.text.indexOf(part, cursor));
      cursor = start + part.length;
      const policy = toPolicy(part, start, file, ctx);
      if (policy) out.push(policy);
    }
  }
  return out;
}
