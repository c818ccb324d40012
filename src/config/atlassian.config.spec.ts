import {
  DEFAULT_API_MAX_CONCURRENCY_PER_TENANT,
  DEFAULT_ATLASSIAN_API_BASE_URL,
  DEFAULT_ATLASSIAN_API_TIMEOUT_MS,
  DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL,
  DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
  DEFAULT_KEEP_ALIVE_INTERVAL_MS,
  DEFAULT_REFRESH_COOLDOWN_MS,
  DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS,
  atlassianConfig,
  readAtlassianConfig,
} from './atlassian.config';
import { AtlassianOauthClientConfigError } from './config.errors';

describe(readAtlassianConfig.name, () => {
  it("uses Atlassian's endpoints, the default timings and no credentials when nothing is set: storing tokens needs none", () => {
    expect(readAtlassianConfig({})).toEqual({
      clientId: undefined,
      clientSecret: undefined,
      tokenUrl: DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
      authorizeUrl: DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL,
      apiBaseUrl: DEFAULT_ATLASSIAN_API_BASE_URL,
      apiTimeoutMs: DEFAULT_ATLASSIAN_API_TIMEOUT_MS,
      tokenEndpointTimeoutMs: DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS,
      refreshCooldownMs: DEFAULT_REFRESH_COOLDOWN_MS,
      keepAliveIntervalMs: DEFAULT_KEEP_ALIVE_INTERVAL_MS,
      pkce: false,
      apiMaxConcurrencyPerTenant: DEFAULT_API_MAX_CONCURRENCY_PER_TENANT,
      apiMaxRequestsPerSecond: 0,
    });
    expect(
      readAtlassianConfig({
        ATLASSIAN_CLIENT_ID: ' ',
        ATLASSIAN_OAUTH_TOKEN_URL: '',
        ATLASSIAN_API_BASE_URL: ' ',
        ATLASSIAN_REFRESH_COOLDOWN_MS: '',
        ATLASSIAN_KEEPALIVE_INTERVAL_MS: ' ',
      }),
    ).toMatchObject({
      clientId: undefined,
      tokenUrl: DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
      apiBaseUrl: 'https://api.atlassian.com',
      refreshCooldownMs: DEFAULT_REFRESH_COOLDOWN_MS,
      keepAliveIntervalMs: DEFAULT_KEEP_ALIVE_INTERVAL_MS,
    });
  });

  it('reads every variable, keeping the credentials exactly as written', () => {
    expect(
      readAtlassianConfig({
        ATLASSIAN_CLIENT_ID: 'client-1',
        ATLASSIAN_CLIENT_SECRET: ' secret with spaces ',
        ATLASSIAN_OAUTH_TOKEN_URL: 'http://127.0.0.1:4000/token',
        ATLASSIAN_OAUTH_AUTHORIZE_URL: 'http://127.0.0.1:4000/auth',
        ATLASSIAN_API_BASE_URL: 'http://[::1]:4000',
        ATLASSIAN_REFRESH_COOLDOWN_MS: '1500',
        ATLASSIAN_KEEPALIVE_INTERVAL_MS: '0',
        ATLASSIAN_OAUTH_PKCE: 'true',
        ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS: '2500',
        ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT: '8',
        ATLASSIAN_API_MAX_REQUESTS_PER_SECOND: '12.5',
      }),
    ).toEqual({
      clientId: 'client-1',
      clientSecret: ' secret with spaces ',
      tokenUrl: 'http://127.0.0.1:4000/token',
      authorizeUrl: 'http://127.0.0.1:4000/auth',
      apiBaseUrl: 'http://[::1]:4000',
      apiTimeoutMs: DEFAULT_ATLASSIAN_API_TIMEOUT_MS,
      tokenEndpointTimeoutMs: 2500,
      refreshCooldownMs: 1500,
      keepAliveIntervalMs: 0,
      pkce: true,
      apiMaxConcurrencyPerTenant: 8,
      apiMaxRequestsPerSecond: 12.5,
    });
  });

  // Each was accepted by the configuration before (a cooldown of NaN, say) and refused only where
  // a module used it, or not at all: the configuration now refuses it when it loads.
  it.each([
    ['ATLASSIAN_REFRESH_COOLDOWN_MS', 'abc'],
    ['ATLASSIAN_REFRESH_COOLDOWN_MS', '-1'],
    ['ATLASSIAN_REFRESH_COOLDOWN_MS', '1.5'],
    ['ATLASSIAN_REFRESH_COOLDOWN_MS', '1e3'],
    ['ATLASSIAN_REFRESH_COOLDOWN_MS', '99999999999999999999'],
    ['ATLASSIAN_KEEPALIVE_INTERVAL_MS', 'abc'],
    ['ATLASSIAN_KEEPALIVE_INTERVAL_MS', '-1'],
    ['ATLASSIAN_KEEPALIVE_INTERVAL_MS', '1.5'],
    ['ATLASSIAN_KEEPALIVE_INTERVAL_MS', String(2 ** 31)],
    ['ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS', '0'],
    ['ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS', '-5'],
    ['ATLASSIAN_TOKEN_ENDPOINT_TIMEOUT_MS', '10s'],
    ['ATLASSIAN_OAUTH_TOKEN_URL', 'http://auth.example.test/token'],
    ['ATLASSIAN_OAUTH_TOKEN_URL', 'no url'],
    ['ATLASSIAN_OAUTH_AUTHORIZE_URL', 'ftp://127.0.0.1/authorize'],
    ['ATLASSIAN_OAUTH_AUTHORIZE_URL', 'https://user:pass-secret@'],
    ['ATLASSIAN_OAUTH_PKCE', 'yes'],
    ['ATLASSIAN_API_BASE_URL', 'http://api.atlassian.com'],
    ['ATLASSIAN_API_BASE_URL', 'api.atlassian.com'],
    ['ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT', '0'],
    ['ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT', 'four'],
    ['ATLASSIAN_API_MAX_REQUESTS_PER_SECOND', '-1'],
    ['ATLASSIAN_API_MAX_REQUESTS_PER_SECOND', 'fast'],
    ['ATLASSIAN_API_MAX_REQUESTS_PER_SECOND', '1e3'],
    ['ATLASSIAN_API_MAX_REQUESTS_PER_SECOND', '2000000'],
  ])('refuses %s=%s when it loads, naming the variable and not the value', (variable, value) => {
    let thrown: unknown;
    try {
      readAtlassianConfig({ [variable]: value });
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(AtlassianOauthClientConfigError);
    expect(thrown).toMatchObject({ name: 'AtlassianOauthClientConfigError', variable });
    expect((thrown as Error).message).toContain(variable);
    expect((thrown as Error).message).not.toContain(value);
  });

  it('is registered as "atlassian"', () => {
    expect(atlassianConfig.KEY).toBe('CONFIGURATION(atlassian)');
  });
});
