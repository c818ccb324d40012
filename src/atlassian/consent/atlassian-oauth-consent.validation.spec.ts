import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { MAX_SCOPES, MAX_SCOPE_LENGTH } from '../atlassian-oauth-state.validation';
import { validateConsentRequest } from './atlassian-oauth-consent.validation';

const RETURN_URL = 'https://app.example.com/settings/atlassian';
const valid = { platform: 'jira', tenantId: 'tenant-1', scopes: ['read:jira-work'], returnTo: RETURN_URL };

function refusal(body: unknown): AtlassianOauthStateValidationError {
  try {
    validateConsentRequest(body, [RETURN_URL]);
  } catch (error) {
    if (error instanceof AtlassianOauthStateValidationError) {
      return error;
    }
    throw error;
  }
  throw new Error('the request was accepted');
}

describe(validateConsentRequest.name, () => {
  it("accepts Atlassian's scope syntax, dropping a repeated scope", () => {
    const scopes = [
      'read:jira-work',
      'read:confluence-content.all',
      'offline_access',
      'read:jira-work',
      'manage:jira-webhook',
    ];

    expect(validateConsentRequest({ ...valid, scopes }, [RETURN_URL]).scopes).toEqual(
      scopes.slice(0, 3).concat(scopes[4]!),
    );
  });

  it(`accepts ${MAX_SCOPES} scopes of ${MAX_SCOPE_LENGTH} characters`, () => {
    const scopes = Array.from(
      { length: MAX_SCOPES },
      (_, i) => `read:${String(i).padStart(MAX_SCOPE_LENGTH - 5, 'x')}`,
    );

    expect(validateConsentRequest({ ...valid, scopes }, [RETURN_URL]).scopes).toHaveLength(MAX_SCOPES);
  });

  // Finding 7 of issue #24: scopes with control characters, or 300 scopes of 255 characters, were accepted.
  it.each([
    ['a control character', ['read:jira-work\u0007']],
    ['a newline', ['read:jira-work\nINFO forged']],
    ['a bidi control', ['read:\u202ejira-work']],
    ['a quote', ['read:"jira"']],
    ['a slash', ['read/jira']],
    ['a space', ['read jira']],
    ['an empty scope', ['']],
    ['no scope', []],
    ['a scope that is not a string', [42]],
    [`${MAX_SCOPES + 1} scopes`, Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `scope-${i}`)],
    ['300 scopes of 255 characters', Array.from({ length: 300 }, (_, i) => `${i}`.padStart(255, 'x'))],
    [`a scope of ${MAX_SCOPE_LENGTH + 1} characters`, ['x'.repeat(MAX_SCOPE_LENGTH + 1)]],
  ])('refuses %s, naming scopes', (_case, scopes) => {
    const error = refusal({ ...valid, scopes });

    expect(error.field).toBe('scopes');
    expect(error.requirement).toBe(
      `must list 1 to ${MAX_SCOPES} Atlassian scopes, each of at most ${MAX_SCOPE_LENGTH} letters, digits, ':', '.', '_' or '-' (for example read:jira-work)`,
    );
  });

  it.each([
    ['platform', { platform: 'jira\u2066' }],
    ['tenantId', { tenantId: 'tenant-\u202eevil' }],
  ])('refuses a bidi control in %s', (field, change) => {
    expect(refusal({ ...valid, ...change }).field).toBe(field);
  });
});
