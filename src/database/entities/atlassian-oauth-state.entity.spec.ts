import { format, inspect } from 'node:util';
import { AtlassianOauthStateEntity, REDACTED } from './atlassian-oauth-state.entity';

const ACCESS = 'access-secret-value';
const REFRESH = 'refresh-secret-value';

function entity(accessToken: string | null = ACCESS): AtlassianOauthStateEntity {
  return Object.assign(new AtlassianOauthStateEntity(), {
    id: '00000000-0000-4000-8000-000000000001',
    platform: 'jira',
    tenantId: 'tenant-a',
    accessToken,
    refreshToken: REFRESH,
    expiresAt: new Date('2026-01-01T10:00:00.000Z'),
    updatedAt: new Date('2026-01-01T09:00:00.000Z'),
  });
}

describe(AtlassianOauthStateEntity.name, () => {
  it('shows [redacted] for both tokens in util.inspect and console.log formatting', () => {
    const sut = entity();

    for (const text of [
      inspect(sut),
      inspect(sut, { depth: 5, showHidden: true }),
      format('%o', sut),
      format('%O', { nested: [sut] }),
    ]) {
      expect(text).toContain('AtlassianOauthStateEntity');
      expect(text).toContain(`accessToken: '${REDACTED}'`);
      expect(text).toContain(`refreshToken: '${REDACTED}'`);
      expect(text).toContain("tenantId: 'tenant-a'");
      expect(text).not.toContain(ACCESS);
      expect(text).not.toContain(REFRESH);
    }
    expect(inspect(sut, { colors: true })).not.toContain(REFRESH);
  });

  it('shows [redacted] for both tokens in JSON.stringify, keeping the other fields', () => {
    const sut = entity();

    expect(JSON.parse(JSON.stringify({ state: sut }))).toEqual({
      state: {
        id: sut.id,
        platform: 'jira',
        tenantId: 'tenant-a',
        accessToken: REDACTED,
        refreshToken: REDACTED,
        expiresAt: '2026-01-01T10:00:00.000Z',
        updatedAt: '2026-01-01T09:00:00.000Z',
      },
    });
  });

  it('keeps a null access token null, which is no secret', () => {
    expect(JSON.parse(JSON.stringify(entity(null)))).toMatchObject({ accessToken: null, refreshToken: REDACTED });
    expect(inspect(entity(null))).toContain('accessToken: null');
  });

  it('still reads, spreads and assigns its token properties normally', () => {
    const sut = entity();

    expect(sut.accessToken).toBe(ACCESS);
    expect(sut.refreshToken).toBe(REFRESH);
    expect({ ...sut }).toMatchObject({ accessToken: ACCESS, refreshToken: REFRESH });
    expect(Object.keys(sut)).toEqual([
      'id',
      'platform',
      'tenantId',
      'accessToken',
      'refreshToken',
      'expiresAt',
      'updatedAt',
    ]);
  });
});
