import { InputError } from '../core/errors.js';

/** One finding in a configuration directory. `line` is 1-based; 0 means the file as a whole. */
export interface ConfigIssue {
  /** Relative to the configuration directory, e.g. "apps/github.yaml". */
  file: string;
  line: number;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return i.line > 0 ? `${i.file}:${i.line}: ${i.message}` : `${i.file}: ${i.message}`;
}

/** Every error found in one load, so a reviewer fixes them in one pass rather than one per run. */
export class ConfigError extends InputError {
  constructor(public issues: ConfigIssue[]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(first ? `${formatIssue(first)}${more}` : 'invalid configuration');
    this.name = 'ConfigError';
  }
}

export interface Place {
  file: string;
  line: number;
}

export function at(place: Place): string {
  return place.line > 0 ? `${place.file}:${place.line}` : place.file;
}

/** Collects errors and warnings while the loader keeps going. */
export class Issues {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  error(place: Place, message: string): void {
    this.errors.push({ file: place.file, line: place.line, message });
  }

  warn(place: Place, message: string): void {
    this.warnings.push({ file: place.file, line: place.line, message });
  }
}

/** Orders findings as a reader walks the directory: by file, then by line. */
export function sortIssues(list: ConfigIssue[]): ConfigIssue[] {
  return [...list].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}
