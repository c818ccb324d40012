import { inspect } from 'node:util';
import { DataSource, QueryFailedError } from 'typeorm';
import { encryptedFileDatabase } from '../support/encrypted-file-database';
import { newTokenKey } from '../support/env';
import { Environment } from '../../src/config/environment';
import { AtlassianOauthStateEntity } from '../../src/database/entities';
import { TokenIntegrityError } from '../../src/token-cipher/token-cipher.errors';
import { AtlassianOauthStateConflictError } from '../../src/atlassian/atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthRotationService } from '../../src/atlassian/rotation/atlassian-oauth-rotation.service';

const JIRA = 'jira';
const KEY_1 = newTokenKey();
const K1 = `k1:${KEY_1}`;

describe(`${AtlassianOauthStateRepo.name} encryption at rest`, () => {
  let sut: AtlassianOauthStateRepo;
  let dataSource: DataSource;
  const database = encryptedFileDatabase();
  const { rawRows, rawRow, insertPlaintextRow } = database;

  /** Boots DatabaseModule + AtlassianModule on the suite's file with the given key ring (`undefined`: none). */
  const boot = async (keys: string | undefined, env: Environment = {}): Promise<void> => {
    sut = (await database.boot(keys, env)).get(AtlassianOauthStateRepo);
    dataSource = database.dataSource();
  };

  describe('with a key', () => {
    beforeEach(() => boot(K1));

    it('stores neither token in plaintext, and get returns both exactly', async () => {
      const tokens = {
        accessToken: 'access-plain-ö-令牌',
        refreshToken: 'refresh-plain-ü-🔑',
        expiresAt: new Date('2026-01-01T10:00:00.000Z'),
      };

      const stored = await sut.upsert(JIRA, 'tenant-a', tokens);

      const row = await rawRow('tenant-a');
      for (const value of [row.accessToken, row.refreshToken]) {
        expect(value).toMatch(/^enc:v1:k1:/);
        expect(value).not.toContain('plain');
      }
      expect(JSON.stringify(row)).not.toContain(tokens.accessToken);
      expect(JSON.stringify(row)).not.toContain(tokens.refreshToken);
      expect(stored).toMatchObject(tokens);
      expect(stored).toBeInstanceOf(AtlassianOauthStateEntity);
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toEqual(stored);
    });

    it('seals the same token differently every time (fresh IV)', async () => {
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'same', refreshToken: 'same' });
      const first = await rawRow('tenant-a');
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'same', refreshToken: 'same' });
      const second = await rawRow('tenant-a');

      expect(new Set([first.accessToken, first.refreshToken, second.accessToken, second.refreshToken]).size).toBe(4);
    });

    it("makes both gets reject when two tenants' sealed refresh tokens are swapped, returning neither's token", async () => {
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-a', refreshToken: 'refresh-a' });
      await sut.upsert(JIRA, 'tenant-b', { accessToken: 'access-b', refreshToken: 'refresh-b' });
      const a = await rawRow('tenant-a');
      const b = await rawRow('tenant-b');

      await dataSource.query('UPDATE atlassian_oauth_state SET refreshToken = ? WHERE id = ?', [b.refreshToken, a.id]);
      await dataSource.query('UPDATE atlassian_oauth_state SET refreshToken = ? WHERE id = ?', [a.refreshToken, b.id]);

      for (const tenantId of ['tenant-a', 'tenant-b']) {
        const read = sut.get(JIRA, tenantId);
        await expect(read).rejects.toBeInstanceOf(TokenIntegrityError);
        await expect(read).rejects.toMatchObject({
          name: 'TokenIntegrityError',
          location: { platform: JIRA, tenantId, column: 'refreshToken' },
        });
        const message = await read.catch((e: Error) => e.message);
        expect(message).not.toMatch(/refresh-[ab]/);
      }
    });

    it('refuses a value copied into another column or platform of the same tenant', async () => {
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-a', refreshToken: 'refresh-a' });
      await sut.upsert('confluence', 'tenant-a', { accessToken: 'access-c', refreshToken: 'refresh-c' });
      const jira = await rawRow('tenant-a');

      await dataSource.query('UPDATE atlassian_oauth_state SET accessToken = refreshToken WHERE id = ?', [jira.id]);
      await expect(sut.get(JIRA, 'tenant-a')).rejects.toMatchObject({
        name: 'TokenIntegrityError',
        location: { column: 'accessToken' },
      });

      await dataSource.query(`UPDATE atlassian_oauth_state SET refreshToken = ? WHERE platform = 'confluence'`, [
        jira.refreshToken,
      ]);
      await expect(sut.get('confluence', 'tenant-a')).rejects.toMatchObject({
        name: 'TokenIntegrityError',
        location: { platform: 'confluence', column: 'refreshToken' },
      });
    });

    it('compares expectedRefreshToken with the plaintext and hands a conflict over decrypted', async () => {
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-1', refreshToken: 'refresh-1' });
      const winner = await sut.upsert(
        JIRA,
        'tenant-a',
        { accessToken: 'access-2', refreshToken: 'refresh-2' },
        { expectedRefreshToken: 'refresh-1' },
      );

      const stale = sut.upsert(
        JIRA,
        'tenant-a',
        { refreshToken: 'refresh-stale' },
        { expectedRefreshToken: 'refresh-1' },
      );
      await expect(stale).rejects.toBeInstanceOf(AtlassianOauthStateConflictError);
      const conflict = (await stale.catch((e: unknown) => e)) as AtlassianOauthStateConflictError;
      expect(conflict.current).toEqual(winner);
      expect(conflict.current).toMatchObject({ accessToken: 'access-2', refreshToken: 'refresh-2' });

      const first = sut.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-x' }, { expectedRefreshToken: null });
      await expect(first).rejects.toMatchObject({
        name: 'AtlassianOauthStateConflictError',
        current: { refreshToken: 'refresh-2' },
      });
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toEqual(winner);
      expect((await rawRow('tenant-a')).refreshToken).toMatch(/^enc:v1:k1:/);
    });

    it('refuses a conditional upsert over a tampered row, writing nothing, while a plain upsert replaces it', async () => {
      await sut.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-a' });
      await sut.upsert(JIRA, 'tenant-b', { refreshToken: 'refresh-b' });
      const b = await rawRow('tenant-b');
      await dataSource.query(`UPDATE atlassian_oauth_state SET refreshToken = ? WHERE tenant_id = 'tenant-a'`, [
        b.refreshToken,
      ]);

      await expect(
        sut.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-new' }, { expectedRefreshToken: 'refresh-b' }),
      ).rejects.toBeInstanceOf(TokenIntegrityError);
      expect((await rawRow('tenant-a')).refreshToken).toBe(b.refreshToken);

      await expect(sut.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-new' })).resolves.toMatchObject({
        refreshToken: 'refresh-new',
      });
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toMatchObject({ refreshToken: 'refresh-new' });
    });

    it('seals on the find+save fallback path too', async () => {
      dataSource.driver.supportedUpsertTypes.length = 0;

      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-1', refreshToken: 'refresh-1' });
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-2', refreshToken: 'refresh-2' });

      const row = await rawRow('tenant-a');
      expect([row.accessToken, row.refreshToken]).toEqual([
        expect.stringMatching(/^enc:v1:k1:/),
        expect.stringMatching(/^enc:v1:k1:/),
      ]);
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toMatchObject({
        accessToken: 'access-2',
        refreshToken: 'refresh-2',
      });
    });

    it("hands rotate's refresh the plaintext state and stores its result sealed", async () => {
      await sut.upsert(JIRA, 'tenant-a', {
        accessToken: 'access-1',
        refreshToken: 'refresh-1',
        expiresAt: new Date(0),
      });
      const seen: string[] = [];

      const rotated = await database
        .moduleRef()
        .get(AtlassianOauthRotationService)
        .rotate(JIRA, 'tenant-a', (current) => {
          seen.push(current.refreshToken);
          return { accessToken: 'access-2', refreshToken: 'refresh-2', expiresAt: new Date(Date.now() + 3_600_000) };
        });

      expect(seen).toEqual(['refresh-1']);
      expect(rotated).toMatchObject({ accessToken: 'access-2', refreshToken: 'refresh-2' });
      expect((await rawRow('tenant-a')).refreshToken).toMatch(/^enc:v1:k1:/);
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toEqual(rotated);
    });

    it('deletes sealed rows', async () => {
      await sut.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-a' });

      await expect(sut.delete(JIRA, 'tenant-a')).resolves.toBe(true);
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toBeNull();
    });

    describe('a row written straight into the database with plaintext tokens', () => {
      /** A tampered row: the refresh token (and the access token) as an attacker with write access put them. */
      const plantPlaintextRow = (): Promise<void> =>
        insertPlaintextRow('planted', 'attacker-access', 'attacker-refresh');

      const expectRefusal = async (call: Promise<unknown>, column: string): Promise<void> => {
        await expect(call).rejects.toBeInstanceOf(TokenIntegrityError);
        await expect(call).rejects.toMatchObject({
          location: { platform: JIRA, tenantId: 'planted', column },
          message: expect.stringMatching(/not a sealed envelope.*OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true/),
        });
        const message = await call.catch((e: Error) => e.message);
        expect(message).not.toMatch(/attacker-/);
      };

      it('is refused by get with TokenIntegrityError, quoting no token', async () => {
        await plantPlaintextRow();

        await expectRefusal(sut.get(JIRA, 'planted'), 'accessToken');
      });

      it('is refused when only one column is plaintext and the other sealed', async () => {
        await sut.upsert(JIRA, 'planted', { accessToken: 'access-1', refreshToken: 'refresh-1' });
        await dataSource.query(
          `UPDATE atlassian_oauth_state SET refreshToken = 'attacker-refresh' WHERE tenant_id = 'planted'`,
        );

        await expectRefusal(sut.get(JIRA, 'planted'), 'refreshToken');
      });

      it('is refused by a conditional upsert expecting its token, which writes nothing', async () => {
        await plantPlaintextRow();
        const before = await rawRow('planted');

        await expectRefusal(
          sut.upsert(JIRA, 'planted', { refreshToken: 'refresh-next' }, { expectedRefreshToken: 'attacker-refresh' }),
          'refreshToken',
        );
        await expect(rawRow('planted')).resolves.toEqual(before);
      });

      it("is never handed to rotate's refresh function, and nothing is written", async () => {
        await plantPlaintextRow();
        const before = await rawRow('planted');
        const refresh = jest.fn(() => ({ refreshToken: 'refresh-next' }));

        await expectRefusal(
          database.moduleRef().get(AtlassianOauthRotationService).rotate(JIRA, 'planted', refresh),
          'accessToken',
        );
        expect(refresh).not.toHaveBeenCalled();
        await expect(rawRow('planted')).resolves.toEqual(before);
      });
    });

    describe('legacy plaintext rows under OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true (the migration window)', () => {
      beforeEach(() => boot(K1, { OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: 'true' }));

      it('still read', async () => {
        await insertPlaintextRow('legacy', 'access-legacy', 'refresh-legacy');

        await expect(sut.get(JIRA, 'legacy')).resolves.toMatchObject({
          accessToken: 'access-legacy',
          refreshToken: 'refresh-legacy',
        });
      });

      it('are sealed on their next write, also a conditional one', async () => {
        await insertPlaintextRow('legacy', 'access-legacy', 'refresh-legacy');
        await insertPlaintextRow('legacy-2', null, 'refresh-legacy-2');

        await sut.upsert(JIRA, 'legacy', { accessToken: 'access-next', refreshToken: 'refresh-next' });
        await sut.upsert(
          JIRA,
          'legacy-2',
          { refreshToken: 'refresh-next-2' },
          { expectedRefreshToken: 'refresh-legacy-2' },
        );

        for (const tenantId of ['legacy', 'legacy-2']) {
          expect((await rawRow(tenantId)).refreshToken).toMatch(/^enc:v1:k1:/);
        }
        expect((await rawRow('legacy')).accessToken).toMatch(/^enc:v1:k1:/);
        await expect(sut.get(JIRA, 'legacy')).resolves.toMatchObject({
          accessToken: 'access-next',
          refreshToken: 'refresh-next',
        });
        await expect(sut.get(JIRA, 'legacy-2')).resolves.toMatchObject({
          accessToken: null,
          refreshToken: 'refresh-next-2',
        });
      });
    });
  });

  describe('without keys (plaintext mode, outside production)', () => {
    beforeEach(() => boot(undefined));

    it('stores the tokens as they are', async () => {
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-a', refreshToken: 'refresh-a' });

      await expect(rawRow('tenant-a')).resolves.toMatchObject({ accessToken: 'access-a', refreshToken: 'refresh-a' });
      await expect(sut.get(JIRA, 'tenant-a')).resolves.toMatchObject({
        accessToken: 'access-a',
        refreshToken: 'refresh-a',
      });
    });

    it('refuses a token that would read back as a sealed envelope, before writing anything', async () => {
      await expect(sut.upsert(JIRA, 'tenant-a', { refreshToken: 'enc:not-really-sealed' })).rejects.toMatchObject({
        name: 'AtlassianOauthStateValidationError',
        field: 'refreshToken',
      });
      await expect(
        sut.upsert(JIRA, 'tenant-a', { accessToken: 'enc:x', refreshToken: 'refresh-a' }),
      ).rejects.toMatchObject({ field: 'accessToken' });
      await expect(rawRows()).resolves.toEqual([]);
    });
  });

  describe.each([
    ['with a key', K1],
    ['in plaintext mode', undefined],
  ])('a database error that leaves the repo, %s', (_mode, keys) => {
    beforeEach(() => boot(keys));

    it('carries no token value in its parameters or anywhere util.inspect reaches', async () => {
      await sut.upsert(JIRA, 'tenant-a', { accessToken: 'access-ERROR-SECRET', refreshToken: 'refresh-ERROR-SECRET' });
      const stored = await rawRow('tenant-a');
      await dataSource.query('DROP TABLE atlassian_oauth_state');

      const failures = await Promise.all([
        sut
          .upsert(JIRA, 'tenant-a', { accessToken: 'access-ERROR-NEW', refreshToken: 'refresh-ERROR-NEW' })
          .catch((e: unknown) => e),
        sut
          .upsert(
            JIRA,
            'tenant-a',
            { refreshToken: 'refresh-ERROR-NEW' },
            { expectedRefreshToken: 'refresh-ERROR-SECRET' },
          )
          .catch((e: unknown) => e),
        sut.get(JIRA, 'tenant-a').catch((e: unknown) => e),
      ]);

      for (const failure of failures) {
        expect(failure).toBeInstanceOf(QueryFailedError);
        expect(failure).toMatchObject({
          message: expect.stringContaining('no such table'),
          parameters: [expect.stringMatching(/^\[\d+ parameters? redacted\]$/)],
        });
        const text = inspect(failure, { depth: 10, showHidden: true });
        expect(text).not.toContain('ERROR-');
        expect(text).not.toContain(stored.refreshToken);
      }
    });
  });
});
