import { readHttpConfig } from '../../config/http.config';
import { consentOptions } from './atlassian-oauth-consent.options';

const TOKEN = 'internal-token-for-the-options-spec-0123456789';

const optionsFor = (publicUrl: string) =>
  consentOptions(
    readHttpConfig({
      AGENT_CORE_INTERNAL_TOKEN: TOKEN,
      AGENT_CORE_PUBLIC_URL: publicUrl,
      AGENT_CORE_RETURN_URLS: 'https://app.example.com/back',
    }),
    { pkce: false },
  );

describe(consentOptions.name, () => {
  it('builds the start link, the redirect URI and the cookie path below the public URL, keeping its path', () => {
    expect(optionsFor('https://example.com/agent-core')).toMatchObject({
      startUrl: 'https://example.com/agent-core/atlassian/authorize',
      redirectUri: 'https://example.com/agent-core/atlassian/callback',
      cookiePath: '/agent-core/atlassian/callback',
      secureCookie: true,
      pkce: false,
    });
  });

  it.each([
    ['https', 'https://agent-core.example.com', true],
    ['http on a public host', 'http://agent-core.example.com', true],
    ['http on 127.0.0.1', 'http://127.0.0.1:3000', false],
    ['http on localhost', 'http://localhost:3000', false],
    ['http on ::1', 'http://[::1]:3000', false],
  ])('makes the consent cookie Secure for %s: %s', (_case, publicUrl, secure) => {
    expect(optionsFor(publicUrl).secureCookie).toBe(secure);
  });
});
