import { quoteForLog } from './quote-for-log';

describe(quoteForLog.name, () => {
  it.each([
    ['a newline', 'tenant\nINFO forged', '"tenant\\nINFO forged"'],
    ['a carriage return and an escape', 'a\r\u001b[2Jb', '"a\\r\\u001b[2Jb"'],
    ['DEL and the C1 control NEL', 'a\u007fb\u0085c', '"a\\u007fb\\u0085c"'],
    ['the line and paragraph separators', 'a\u2028b\u2029c', '"a\\u2028b\\u2029c"'],
    ['the bidi embeddings and overrides U+202A-U+202E', 'a\u202ab\u202ec', '"a\\u202ab\\u202ec"'],
    ['the bidi isolates U+2066-U+2069', 'tenant\u2066x\u2069', '"tenant\\u2066x\\u2069"'],
    ['a lone surrogate', 'a\ud800b', '"a\\ud800b"'],
    ['a quote and a backslash', 'a"b\\c', '"a\\"b\\\\c"'],
  ])('escapes %s, so the value stays on one line', (_case, value, quoted) => {
    expect(quoteForLog(value)).toBe(quoted);
    expect(JSON.parse(quoteForLog(value))).toBe(value);
  });

  it('leaves printable text, including non-Latin letters, as it is', () => {
    expect(quoteForLog('jira/tenant-ä-令牌')).toBe('"jira/tenant-ä-令牌"');
  });
});
