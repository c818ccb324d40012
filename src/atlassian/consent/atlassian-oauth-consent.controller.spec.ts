import { parseCookies, prefersJson } from './atlassian-oauth-consent.controller';

describe(prefersJson.name, () => {
  it.each([
    ['application/json', true],
    ['application/problem+json', true],
    ['application/json, text/plain, */*', true],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
    ['text/html, application/json', false],
    ['*/*', false],
    [undefined, false],
  ])('%s: %s', (accept, json) => {
    expect(prefersJson(accept)).toBe(json);
  });
});

describe(parseCookies.name, () => {
  it('reads the pairs by name, the first of a repeated name, skipping malformed ones', () => {
    expect({ ...parseCookies('a=1; b = 2;c=x=y; broken; a=3; =5') }).toEqual({ a: '1', b: '2', c: 'x=y' });
  });

  it('takes __proto__ as a name like any other', () => {
    const cookies = parseCookies('__proto__=x; a=1');

    expect(cookies.__proto__).toBe('x');
    expect(Object.keys(cookies)).toEqual(['__proto__', 'a']);
  });
});
