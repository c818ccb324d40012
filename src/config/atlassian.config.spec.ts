import {
  DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL,
  DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
  atlassianConfig,
  readAtlassianConfig,
} from './atlassian.config';

describe(readAtlassianConfig.name, () => {
  it("uses Atlassian's endpoints and no credentials when nothing is set: storing tokens needs none", () => {
    expect(readAtlassianConfig({})).toEqual({
      clientId: undefined,
      clientSecret: undefined,
      tokenUrl: DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
      authorizeUrl: DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL,
      refreshCooldownMs: undefined,
      keepAliveIntervalMs: undefined,
    });
    expect(readAtlassianConfig({ ATLASSIAN_OAUTH_TOKEN_URL: '' }).tokenUrl).toBe(DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL);
  });

  it('reads every variable, keeping the credentials exactly as written', () => {
    expect(
      readAtlassianConfig({
        ATLASSIAN_CLIENT_ID: 'client-1',
        ATLASSIAN_CLIENT_SECRET: ' secret with spaces ',
        ATLASSIAN_OAUTH_TOKEN_URL: 'http://127.0.0.1:4000/token',
        ATLASSIAN_OAUTH_AUTHORIZE_URL: 'http://127.0.0.1:4000/auth',
        ATLASSIAN_REFRESH_COOLDOWN_MS: '1500',
        ATLASSIAN_KEEPALIVE_INTERVAL_MS: '3600000',
      }),
    ).toEqual({
      clientId: 'client-1',
      clientSecret: ' secret with spaces ',
      tokenUrl: 'http://127.0.0.1:4000/token',
      authorizeUrl: 'http://127.0.0.1:4000/auth',
      refreshCooldownMs: 1500,
      keepAliveIntervalMs: 3_600_000,
    });
  });

  it('is registered as "atlassian"', () => {
    expect(atlassianConfig.KEY).toBe('CONFIGURATION(atlassian)');
  });
});
