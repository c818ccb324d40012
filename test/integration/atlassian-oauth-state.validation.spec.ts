import { DataSource } from 'typeorm';
import { RepoTestEngine, bootRepoPerTest, repoTestEngines } from '../support/repo-test-engines';
import { FIRST, JIRA, SECOND, TENANT } from '../support/state-fixtures';
import { AtlassianOauthStateEntity } from '../../src/database/entities';
import { AtlassianOauthStateValidationError } from '../../src/atlassian/atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthTokens } from '../../src/atlassian/atlassian-oauth-state.types';

// The store's input checks, seen as its callers see them: a clear error naming the field, and
// nothing written. Run on SQLite always and on each server whose TEST_*_URL is set.
describe.each(repoTestEngines())(
  `${AtlassianOauthStateRepo.name} input validation on %s`,
  (_engineName: string, engine: RepoTestEngine) => {
    let sut: AtlassianOauthStateRepo;
    let dataSource: DataSource;

    const rowCount = async (): Promise<number> => dataSource.getRepository(AtlassianOauthStateEntity).count();

    const booted = bootRepoPerTest(engine);
    beforeEach(() => {
      ({ sut, dataSource } = booted());
    });

    describe('bad input', () => {
      let before: AtlassianOauthStateEntity;

      beforeEach(async () => {
        before = await sut.upsert(JIRA, TENANT, FIRST);
      });

      const badUpserts: [string, string, () => Promise<unknown>][] = [
        ['empty refreshToken', 'refreshToken', () => sut.upsert(JIRA, TENANT, { ...SECOND, refreshToken: '' })],
        [
          'a NUL in refreshToken',
          'refreshToken',
          () => sut.upsert(JIRA, TENANT, { ...SECOND, refreshToken: 'refresh\u0000-2' }),
        ],
        [
          'a NUL in accessToken',
          'accessToken',
          () => sut.upsert(JIRA, TENANT, { ...SECOND, accessToken: 'access\u0000-2' }),
        ],
        ['a NUL in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant\u0000', SECOND)],
        ['a newline in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant-a\nINFO forged line', SECOND)],
        ['a carriage return in platform', 'platform', () => sut.upsert('jira\r', TENANT, SECOND)],
        ['an escape (C0) in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant\u001b[2J', SECOND)],
        ['DEL in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant\u007f', SECOND)],
        ['NEL (C1) in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant\u0085a', SECOND)],
        ['U+009F (C1) in platform', 'platform', () => sut.upsert('jira\u009f', TENANT, SECOND)],
        // Finding 7 of issue #24: bidi controls passed in tenantId and reached the log unescaped.
        [
          'a right-to-left override (U+202E) in tenantId',
          'tenantId',
          () => sut.upsert(JIRA, 'tenant-\u202eb-tnanet', SECOND),
        ],
        ['a left-to-right embedding (U+202A) in platform', 'platform', () => sut.upsert('jira\u202a', TENANT, SECOND)],
        [
          'a first strong isolate (U+2068) in tenantId',
          'tenantId',
          () => sut.upsert(JIRA, 'tenant\u2068x\u2069', SECOND),
        ],
        ['a lone high surrogate in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant\ud800', SECOND)],
        ['a lone low surrogate in platform', 'platform', () => sut.upsert('jira\udc00', TENANT, SECOND)],
        ['a reversed surrogate pair in tenantId', 'tenantId', () => sut.upsert(JIRA, 'tenant\udc00\ud800', SECOND)],
        ['a lone surrogate in the key of get', 'tenantId', () => sut.get(JIRA, '\ud800')],
        ['a newline in the key of delete', 'tenantId', () => sut.delete(JIRA, 'tenant-a\n')],
        ["a control character in list's platform", 'platform', () => sut.list({ platform: 'jira\n' })],
        ['whitespace refreshToken', 'refreshToken', () => sut.upsert(JIRA, TENANT, { ...SECOND, refreshToken: '  ' })],
        [
          'missing refreshToken',
          'refreshToken',
          () => sut.upsert(JIRA, TENANT, { accessToken: 'access-2' } as AtlassianOauthTokens),
        ],
        [
          'non-string refreshToken',
          'refreshToken',
          () => sut.upsert(JIRA, TENANT, { refreshToken: 42 } as unknown as AtlassianOauthTokens),
        ],
        ['empty platform', 'platform', () => sut.upsert('', TENANT, SECOND)],
        ['whitespace platform', 'platform', () => sut.upsert(' \t', TENANT, SECOND)],
        ['empty tenantId', 'tenantId', () => sut.upsert(JIRA, '', SECOND)],
        ['whitespace tenantId', 'tenantId', () => sut.upsert(JIRA, '   ', SECOND)],
        ['non-string tenantId', 'tenantId', () => sut.upsert(JIRA, 7 as unknown as string, SECOND)],
        ['over-long tenantId', 'tenantId', () => sut.upsert(JIRA, 't'.repeat(256), SECOND)],
        [
          'non-string accessToken',
          'accessToken',
          () => sut.upsert(JIRA, TENANT, { ...SECOND, accessToken: 1 as unknown as string }),
        ],
        [
          'invalid Date expiresAt',
          'expiresAt',
          () => sut.upsert(JIRA, TENANT, { ...SECOND, expiresAt: new Date('not a date') }),
        ],
        [
          'string expiresAt',
          'expiresAt',
          () => sut.upsert(JIRA, TENANT, { ...SECOND, expiresAt: '2026-01-01' as unknown as Date }),
        ],
        ['null tokens', 'tokens', () => sut.upsert(JIRA, TENANT, null as unknown as AtlassianOauthTokens)],
      ];

      it.each(badUpserts)(
        'refuses %s, naming %s, and leaves the stored state as it was',
        async (_case, field, call) => {
          const rejection = call();

          await expect(rejection).rejects.toBeInstanceOf(AtlassianOauthStateValidationError);
          await expect(rejection).rejects.toMatchObject({ field, message: expect.stringContaining(field) });
          await expect(sut.get(JIRA, TENANT)).resolves.toEqual(before);
          await expect(rowCount()).resolves.toBe(1);
        },
      );

      it('accepts a well-formed surrogate pair and non-Latin letters in a key', async () => {
        await expect(sut.upsert(JIRA, 'tenant-令牌-🔑', SECOND)).resolves.toMatchObject({ tenantId: 'tenant-令牌-🔑' });
        await expect(sut.get(JIRA, 'tenant-令牌-🔑')).resolves.toMatchObject({ refreshToken: SECOND.refreshToken });
      });

      it('never puts a token value into the error message', async () => {
        const error = (await sut
          .upsert(JIRA, TENANT, { ...SECOND, accessToken: 'secret-access-value', expiresAt: new Date(NaN) })
          .catch((e: unknown) => e)) as Error;

        expect(error).toBeInstanceOf(AtlassianOauthStateValidationError);
        expect(error.message).not.toContain('secret-access-value');
        expect(error.message).not.toContain(SECOND.refreshToken);
      });

      it('refuses a blank key on get', async () => {
        await expect(sut.get(JIRA, ' ')).rejects.toMatchObject({
          name: 'AtlassianOauthStateValidationError',
          field: 'tenantId',
        });
        await expect(sut.get('', TENANT)).rejects.toMatchObject({
          name: 'AtlassianOauthStateValidationError',
          field: 'platform',
        });
      });
    });
  },
);
