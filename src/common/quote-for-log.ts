/**
 * `value` as a JSON string literal with every control character escaped: C0 and DEL (which
 * `JSON.stringify` escapes only in part), C1 (U+0080-U+009F, e.g. NEL), the line and paragraph
 * separators U+2028/U+2029, the bidirectional controls U+202A-U+202E and U+2066-U+2069 (which
 * reorder what a terminal or a log viewer shows after them), and lone surrogates. A key or key id
 * read from a row that someone wrote straight into the database can hold any of them; quoted this
 * way it stays on its one log line, reads as it is, and cannot forge another.
 */
export function quoteForLog(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
