import { readAtlassianConfig } from '../../config/atlassian.config';
import { atlassianApiOptions, atlassianApiUrl } from './atlassian-api.options';

describe(atlassianApiOptions.name, () => {
  it('uses https://api.atlassian.com and a 10 s timeout unless configured', () => {
    const options = atlassianApiOptions(readAtlassianConfig({}));

    expect(options.baseUrl.href).toBe('https://api.atlassian.com/');
    expect(options.timeoutMs).toBe(10_000);
    expect(atlassianApiUrl(options, 'oauth/token/accessible-resources').href).toBe(
      'https://api.atlassian.com/oauth/token/accessible-resources',
    );
  });

  it('keeps a base path: a proxy prefix stays in front of every path', () => {
    const options = atlassianApiOptions(
      readAtlassianConfig({ ATLASSIAN_API_BASE_URL: 'https://proxy.example/atlassian' }),
    );

    expect(atlassianApiUrl(options, '/oauth/token/accessible-resources').href).toBe(
      'https://proxy.example/atlassian/oauth/token/accessible-resources',
    );
  });
});
