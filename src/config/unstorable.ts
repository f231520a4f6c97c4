const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What in a text PostgreSQL cannot store (text and jsonb refuse NUL; a lone surrogate has no
 * UTF-8 form), named for a message; undefined when the text is storable.
 */
export function unstorable(text: string): string | undefined {
  if (text.includes('\0')) return 'a NUL character';
  if (LONE_SURROGATE.test(text)) return 'a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
}
