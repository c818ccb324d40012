import { AtlassianOauthTokens } from '../../src/atlassian/atlassian-oauth-state.types';

/** The platform and tenant most store specs write. */
export const JIRA = 'jira';
export const TENANT = 'tenant-a';

/** A first token state of a key, and the one a refresh replaces it with. */
export const FIRST: AtlassianOauthTokens = {
  accessToken: 'access-1',
  refreshToken: 'refresh-1',
  expiresAt: new Date('2026-01-01T10:00:00.000Z'),
};
export const SECOND: AtlassianOauthTokens = {
  accessToken: 'access-2',
  refreshToken: 'refresh-2',
  expiresAt: new Date('2026-01-01T11:00:00.000Z'),
};
