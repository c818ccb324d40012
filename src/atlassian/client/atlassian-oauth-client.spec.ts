import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthClient, retryAfterMs } from './atlassian-oauth-client';
import { readAtlassianConfig } from '../../config/atlassian.config';
import { atlassianOauthClientOptions } from './atlassian-oauth-client.options';

describe(AtlassianOauthClient.name, () => {
  const sut = new AtlassianOauthClient(
    atlassianOauthClientOptions({
      ...readAtlassianConfig({}),
      clientId: 'client-1',
      clientSecret: 'secret-1',
    }),
  );

  describe('authorizationUrl', () => {
    it("builds Atlassian's 3LO consent URL, adding offline_access", () => {
      const url = sut.authorizationUrl({
        state: 'state-1',
        redirectUri: 'https://app.example.test/oauth/callback',
        scopes: ['read:jira-work', 'write:jira-work'],
      });

      expect(url.origin + url.pathname).toBe('https://auth.atlassian.com/authorize');
      expect(Object.fromEntries(url.searchParams)).toEqual({
        audience: 'api.atlassian.com',
        client_id: 'client-1',
        scope: 'read:jira-work write:jira-work offline_access',
        redirect_uri: 'https://app.example.test/oauth/callback',
        state: 'state-1',
        response_type: 'code',
        prompt: 'consent',
      });
      expect(url.href).not.toContain('secret-1');
    });

    it('does not repeat offline_access when it is asked for', () => {
      const url = sut.authorizationUrl({
        state: 's',
        redirectUri: 'https://app.example.test/cb',
        scopes: ['offline_access', 'read:me'],
      });

      expect(url.searchParams.get('scope')).toBe('offline_access read:me');
    });

    it.each([
      ['state', { state: '', redirectUri: 'https://app.example.test/cb', scopes: [] }],
      ['redirectUri', { state: 's', redirectUri: '/relative', scopes: [] }],
      ['redirectUri', { state: 's', redirectUri: 'javascript:alert(1)', scopes: [] }],
      ['scopes', { state: 's', redirectUri: 'https://app.example.test/cb', scopes: ['read:me write:me'] }],
      ['scopes', { state: 's', redirectUri: 'https://app.example.test/cb', scopes: [''] }],
    ])('rejects a bad %s naming it', (field, request) => {
      let thrown: unknown;
      try {
        sut.authorizationUrl(request);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AtlassianOauthStateValidationError);
      expect(thrown).toMatchObject({ field });
    });
  });

  describe('retryAfterMs', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');

    it.each([
      ['30', 30_000],
      [' 0 ', 0],
      ['Thu, 01 Jan 2026 00:01:00 GMT', 60_000],
      ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
      ['soon', null],
      ['-5', null],
      ['1.5', null],
      [null, null],
    ])('reads %p as %p', (header, expected) => {
      expect(retryAfterMs(header, now)).toBe(expected);
    });
  });
});
