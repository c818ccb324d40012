import {
  DEFAULT_INTERNAL_HOST,
  DEFAULT_INTERNAL_PORT,
  DEFAULT_PORT,
  HttpConfigError,
  httpConfig,
  readHttpConfig,
} from './http.config';

describe(readHttpConfig.name, () => {
  it('listens on 3000 (public) and 3001 on every interface (internal) with the consent flow off and no tenant labels when nothing is set', () => {
    expect(readHttpConfig({})).toEqual({
      port: DEFAULT_PORT,
      internalPort: DEFAULT_INTERNAL_PORT,
      internalHost: DEFAULT_INTERNAL_HOST,
      internalToken: undefined,
      returnUrls: [],
      publicUrl: undefined,
      metricsTenantLabels: false,
    });
    expect(readHttpConfig({ PORT: ' ', AGENT_CORE_INTERNAL_TOKEN: '', AGENT_CORE_RETURN_URLS: '' }).port).toBe(3000);
  });

  it('reads every variable: return URLs as origin plus path, the token exactly as written', () => {
    const token = ` ${'0123456789abcdefghij'.repeat(2)} `;
    expect(
      readHttpConfig({
        PORT: '0',
        INTERNAL_PORT: '9101',
        INTERNAL_HOST: '127.0.0.1',
        AGENT_CORE_INTERNAL_TOKEN: token,
        AGENT_CORE_RETURN_URLS: 'https://App.example.com/settings/atlassian?tab=1#x , http://127.0.0.1:8080/back',
        AGENT_CORE_PUBLIC_URL: 'https://agent-core.example.com/base/',
        METRICS_TENANT_LABELS: 'true',
      }),
    ).toEqual({
      port: 0,
      internalPort: 9101,
      internalHost: '127.0.0.1',
      internalToken: token,
      returnUrls: ['https://app.example.com/settings/atlassian', 'http://127.0.0.1:8080/back'],
      publicUrl: new URL('https://agent-core.example.com/base/'),
      metricsTenantLabels: true,
    });
  });

  it.each([
    [{ PORT: '65536' }, 'PORT must be a whole number from 0 to 65535'],
    [{ PORT: 'http' }, 'PORT must be a whole number from 0 to 65535'],
    [{ INTERNAL_PORT: '-1' }, 'INTERNAL_PORT must be a whole number from 0 to 65535'],
    [{ INTERNAL_HOST: 'x y!' }, 'INTERNAL_HOST must be a host name or an IP address'],
    [{ AGENT_CORE_INTERNAL_TOKEN: 'short-secret' }, 'AGENT_CORE_INTERNAL_TOKEN must be at least 32 characters'],
    [{ AGENT_CORE_RETURN_URLS: 'https://ok.example/a,javascript:alert(1)' }, 'AGENT_CORE_RETURN_URLS must list'],
    [{ AGENT_CORE_RETURN_URLS: '/relative' }, 'AGENT_CORE_RETURN_URLS must list'],
    [{ AGENT_CORE_PUBLIC_URL: 'agent-core.example.com' }, 'AGENT_CORE_PUBLIC_URL must be an absolute http(s) URL'],
    [{ METRICS_TENANT_LABELS: 'yes' }, 'METRICS_TENANT_LABELS must be true or false'],
    // Finding 6 of issue #24: weak configuration was accepted.
    [{ AGENT_CORE_INTERNAL_TOKEN: 'a'.repeat(32) }, 'AGENT_CORE_INTERNAL_TOKEN has too little variety'],
    [{ AGENT_CORE_INTERNAL_TOKEN: '0123456789abcd'.repeat(3) }, 'AGENT_CORE_INTERNAL_TOKEN has too little variety'],
    [
      { AGENT_CORE_PUBLIC_URL: 'http://agent-core.example.com', NODE_ENV: 'production' },
      'AGENT_CORE_PUBLIC_URL must be an https URL with NODE_ENV=production',
    ],
    [
      { AGENT_CORE_RETURN_URLS: 'https://app.example/a,http://app.example/b', NODE_ENV: ' Production' },
      'AGENT_CORE_RETURN_URLS must list only https URLs with NODE_ENV=production',
    ],
  ])('refuses %j naming the variable, never repeating its value', (env, message) => {
    let error: unknown;
    try {
      readHttpConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(HttpConfigError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain(Object.values(env)[0]);
  });

  it('accepts a generated token of 16 distinct characters, and http URLs outside production', () => {
    const token = '0123456789abcdef'.repeat(2);
    expect(
      readHttpConfig({
        AGENT_CORE_INTERNAL_TOKEN: token,
        AGENT_CORE_PUBLIC_URL: 'http://127.0.0.1:3000',
        AGENT_CORE_RETURN_URLS: 'http://127.0.0.1:8080/back',
      }).internalToken,
    ).toBe(token);
    expect(
      readHttpConfig({
        NODE_ENV: 'production',
        AGENT_CORE_PUBLIC_URL: 'https://agent-core.example.com',
        AGENT_CORE_RETURN_URLS: 'https://app.example/back',
      }).publicUrl?.protocol,
    ).toBe('https:');
  });

  it('is registered as "http"', () => {
    expect(httpConfig.KEY).toBe('CONFIGURATION(http)');
  });
});
