import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { Issues, Place } from './issues.js';
import { unstorable } from './unstorable.js';
import { formatPath } from './zod-issues.js';

export type Path = readonly (string | number)[];

/** Configuration has no use for many aliases; a small limit makes an alias bomb a plain error. */
const MAX_ALIAS_COUNT = 100;

/** The yaml library appends "at line L, column C:" and a source excerpt; the issue already has the line. */
function plainMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

/** The first key or string (depth first) the store could not hold, with its path. */
function firstUnstorable(value: unknown, path: Path): { path: Path; what: string } | undefined {
  if (typeof value === 'string') {
    const what = unstorable(value);
    return what ? { path, what } : undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const p = [...path, Array.isArray(value) ? Number(k) : k];
    const what = unstorable(k);
    if (what) return { path: p, what };
    const inner = firstUnstorable(v, p);
    if (inner) return inner;
  }
  return undefined;
}

/** A parsed YAML file that can say on which line any path of its value was written. */
export class YamlSource {
  private constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    /** The plain value; undefined when the file has syntax errors (its content is then not trusted). */
    readonly value: unknown,
  ) {}

  static parse(file: string, text: string, issues: Issues): YamlSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines });
    // Only the first syntax error: the parser's later ones are mostly echoes of it.
    const first = doc.errors[0];
    if (first)
      issues.error({ file, line: first.linePos?.[0].line ?? 1 }, plainMessage(first.message));
    for (const w of doc.warnings) {
      issues.warn({ file, line: w.linePos?.[0].line ?? 1 }, plainMessage(w.message));
    }
    let value: unknown;
    if (doc.errors.length === 0) {
      try {
        value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (e) {
        // Aliases of aliases expand exponentially ("billion laughs"); the library stops at the limit.
        if (!(e instanceof ReferenceError)) throw e;
        issues.error(
          { file, line: 1 },
          `too many YAML aliases (*name) expand here; at most ${MAX_ALIAS_COUNT} are allowed`,
        );
      }
    }
    const source = new YamlSource(file, doc, lines, value);
    const bad = value === undefined ? undefined : firstUnstorable(value, []);
    if (bad) {
      issues.error(source.place(bad.path), `${formatPath(bad.path)}: holds ${bad.what}`);
      return new YamlSource(file, doc, lines, undefined);
    }
    return source;
  }

  get ok(): boolean {
    return this.value !== undefined;
  }

  /** The line of `path`, or of its nearest ancestor that exists (a missing field points at its parent). */
  line(path: Path): number {
    for (let n = path.length; n >= 0; n--) {
      const offset = this.offsetOf(path.slice(0, n));
      if (offset !== undefined) return this.lines.linePos(offset).line;
    }
    return 1;
  }

  place(path: Path): Place {
    return { file: this.file, line: this.line(path) };
  }

  /**
   * A map entry is located by its key, not its value: a null value has no position of its own and a
   * block value starts on the next line, while the reader looks for the key.
   */
  private offsetOf(path: Path): number | undefined {
    if (path.length === 0) return this.doc.contents?.range?.[0];
    const parent = this.doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (isMap(parent)) {
      const pair = parent.items.find(
        (p) => String(isScalar(p.key) ? p.key.value : p.key) === String(last),
      );
      const key: unknown = pair?.key;
      return isScalar(key) ? key.range?.[0] : undefined;
    }
    if (isSeq(parent) && typeof last === 'number') {
      const item: unknown = parent.items[last];
      return isScalar(item) || isMap(item) || isSeq(item) ? item.range?.[0] : undefined;
    }
    return undefined;
  }
}
