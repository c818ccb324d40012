import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, QueryFailedError } from 'typeorm';
import { newTokenKey, setEnv } from '../../test/support/env';
import { DatabaseModule } from '../database/database.module';
import { AtlassianOauthStateEntity } from '../database/entities';
import { TokenEncryptionConfigError, TokenIntegrityError, UnknownTokenKeyError } from '../database/token-cipher.errors';
import { AtlassianOauthStateConflictError, AtlassianOauthStateValidationError } from './atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo, ReencryptProgress } from './atlassian-oauth-state.repo';
import { AtlassianModule } from './atlassian.module';

const JIRA = 'jira';
const KEY_1 = newTokenKey();
const KEY_2 = newTokenKey();
const K1 = `k1:${KEY_1}`;
const K2 = `k2:${KEY_2}`;

interface RawRow {
  id: string;
  platform: string;
  tenant_id: string;
  accessToken: string | null;
  refreshToken: string;
  updatedAt: string;
}

describe(`${AtlassianOauthStateRepo.name} encryption at rest`, () => {
  let restoreEnv: () => void;
  let moduleRef: TestingModule | undefined;
  let sut: AtlassianOauthStateRepo;
  let dataSource: DataSource;

  /** Boots DatabaseModule + AtlassianModule with the given key ring (`undefined`: none). */
  const boot = async (keys: string | undefined): Promise<void> => {
    await moduleRef?.close();
    process.env.OAUTH_STATE_ENCRYPTION_KEYS = keys;
    if (keys === undefined) {
      delete process.env.OAUTH_STATE_ENCRYPTION_KEYS;
    }
    moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }).compile();
    sut = moduleRef.get(AtlassianOauthStateRepo);
    dataSource = moduleRef.get<DataSource>(getDataSourceToken());
  };

  const rawRows = (): Promise<RawRow[]> =>
    dataSource.query<RawRow[]>('SELECT * FROM atlassian_oauth_state ORDER BY platform, tenant_id');
  const rawRow = async (tenantId: string, platform = JIRA): Promise<RawRow> => {
    const [row] = await dataSource.query<RawRow[]>(
      'SELECT * FROM atlassian_oauth_state WHERE platform = ? AND tenant_id = ?',
      [platform, tenantId],
    );
    if (!row) {
      throw new Error(`no row for ${tenantId}`);
    }
    return row;
  };
  /** Writes a row as agent-core did before encryption was switched on. */
  const insertPlaintextRow = async (
    tenantId: string,
    accessToken: string | null,
    refreshToken: string,
  ): Promise<void> => {
    await dataSource.query(
      `INSERT INTO atlassian_oauth_state (id, platform, tenant_id, accessToken, refreshToken, updatedAt) VALUES (?, ?, ?, ?, ?, '2025-06-01 12:00:00.000')`,
      [`00000000-0000-4000-8000-${tenantId.padStart(12, '0').slice(-12)}`, JIRA, tenantId, accessToken, refreshToken],
    );
  };

  let dir: string;

  // A file database, so that the same rows outlive a reboot with another key ring.
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-encryption-'));
    restoreEnv = setEnv({ OAUTH_STATE_ENCRYPTION_KEYS: undefined, DATABASE_PATH: join(dir, 'agent-core.sqlite') });
  });

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    restoreEnv();
    rmSync(dir, { recursive: true, force: true });
  });

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

      const rotated = await sut.rotate(JIRA, 'tenant-a', (current) => {
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

    describe('legacy plaintext rows', () => {
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

    it('refuses reencryptAll, which has nothing to seal with', async () => {
      await expect(sut.reencryptAll()).rejects.toBeInstanceOf(TokenEncryptionConfigError);
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

  describe('reencryptAll', () => {
    beforeEach(() => boot(K1));

    /** `count` tenants sealed under k1 (named t0000, t0001, ...), every third without an access token. */
    const seed = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const name = `t${String(i).padStart(4, '0')}`;
        await sut.upsert(JIRA, name, {
          accessToken: i % 3 === 0 ? null : `access-${name}`,
          refreshToken: `refresh-${name}`,
        });
      }
    };

    it('moves every row under the active key in batches, reporting progress, and is idempotent', async () => {
      await seed(23);
      await insertPlaintextRow('legacy', 'access-legacy', 'refresh-legacy');
      const before = await rawRows();
      await boot(`${K2},${K1}`);
      const progress: ReencryptProgress[] = [];

      await expect(sut.reencryptAll({ batchSize: 5, onProgress: (p) => progress.push(p) })).resolves.toEqual({
        sealed: 24,
        alreadyCurrent: 0,
        failed: 0,
      });

      expect(progress.map((p) => p.processed)).toEqual([5, 10, 15, 20, 24]);
      expect(progress.every((p) => p.total === 24)).toBe(true);
      expect(progress[progress.length - 1]).toEqual({
        sealed: 24,
        alreadyCurrent: 0,
        failed: 0,
        processed: 24,
        total: 24,
      });
      const after = await rawRows();
      for (const [i, row] of after.entries()) {
        expect(row.refreshToken).toMatch(/^enc:v1:k2:/);
        expect(row.accessToken === null || row.accessToken.startsWith('enc:v1:k2:')).toBe(true);
        expect(row.accessToken === null).toBe(before[i]?.accessToken === null);
        expect(row.updatedAt).toBe(before[i]?.updatedAt);
      }
      await expect(sut.get(JIRA, 'legacy')).resolves.toMatchObject({
        accessToken: 'access-legacy',
        refreshToken: 'refresh-legacy',
      });
      await expect(sut.get(JIRA, 't0007')).resolves.toMatchObject({
        accessToken: 'access-t0007',
        refreshToken: 'refresh-t0007',
      });

      await expect(sut.reencryptAll({ batchSize: 5 })).resolves.toEqual({ sealed: 0, alreadyCurrent: 24, failed: 0 });
      await expect(rawRows()).resolves.toEqual(after);
    });

    it('counts a row it cannot open as failed, leaves it as it was, and goes on', async () => {
      await seed(4);
      const t1 = await rawRow('t0001');
      await dataSource.query(`UPDATE atlassian_oauth_state SET refreshToken = ? WHERE tenant_id = 't0002'`, [
        t1.refreshToken,
      ]);
      await boot(`${K2},${K1}`);

      await expect(sut.reencryptAll({ batchSize: 2 })).resolves.toEqual({ sealed: 3, alreadyCurrent: 0, failed: 1 });

      expect((await rawRow('t0002')).refreshToken).toBe(t1.refreshToken);
      await expect(sut.get(JIRA, 't0003')).resolves.toMatchObject({ refreshToken: 'refresh-t0003' });
    });

    it('never overwrites a token that a concurrent rotation changed between its read and its write', async () => {
      await seed(60);
      // An old replica that still seals with k1 (a rolling deploy) and one that already has k2.
      process.env.OAUTH_STATE_ENCRYPTION_KEYS = K1;
      const oldReplica = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }).compile();
      await boot(`${K2},${K1}`);
      const name = (i: number): string => `t${String(i).padStart(4, '0')}`;
      const rotate = async (repo: AtlassianOauthStateRepo, i: number): Promise<void> => {
        await repo.upsert(
          JIRA,
          name(i),
          { accessToken: `access-rotated-${i}`, refreshToken: `refresh-rotated-${i}` },
          { expectedRefreshToken: `refresh-${name(i)}` },
        );
      };
      // Rotate half of the rows right after reencryptAll has read its batch and before it writes:
      // TypeORM awaits an afterLoad subscriber before find() resolves.
      let armed = true;
      dataSource.subscribers.push({
        listenTo: () => AtlassianOauthStateEntity,
        afterLoad: async () => {
          if (!armed) {
            return;
          }
          armed = false;
          for (let i = 0; i < 60; i += 2) {
            await rotate(i % 4 === 0 ? sut : oldReplica.get(AtlassianOauthStateRepo), i);
          }
        },
      });

      try {
        await expect(sut.reencryptAll({ batchSize: 100 })).resolves.toEqual({
          sealed: 45,
          alreadyCurrent: 15,
          failed: 0,
        });
      } finally {
        await oldReplica.close();
      }

      expect(armed).toBe(false);
      for (let i = 0; i < 60; i++) {
        const expected =
          i % 2 === 0
            ? { accessToken: `access-rotated-${i}`, refreshToken: `refresh-rotated-${i}` }
            : { refreshToken: `refresh-${name(i)}` };
        await expect(sut.get(JIRA, name(i))).resolves.toMatchObject(expected);
      }
      expect((await rawRows()).every((row) => row.refreshToken.startsWith('enc:v1:k2:'))).toBe(true);
    });

    it.each([
      ['batchSize 0', { batchSize: 0 }, 'batchSize'],
      ['batchSize 1.5', { batchSize: 1.5 }, 'batchSize'],
      ['a non-function onProgress', { onProgress: 'yes' }, 'onProgress'],
    ])('refuses %s before reading anything', async (_case, options, field) => {
      await expect(sut.reencryptAll(options as never)).rejects.toBeInstanceOf(AtlassianOauthStateValidationError);
      await expect(sut.reencryptAll(options as never)).rejects.toMatchObject({ field });
    });
  });

  describe('key rotation across restarts (k1, then k2,k1, then k2 alone, then k1 alone)', () => {
    it('reads old rows after k2 is put first, moves them all to k2, then needs only k2', async () => {
      const tenants = ['tenant-a', 'tenant-b', 'tenant-c'];
      await boot(K1);
      for (const tenantId of tenants) {
        await sut.upsert(JIRA, tenantId, { accessToken: `access-${tenantId}`, refreshToken: `refresh-${tenantId}` });
      }

      await boot(`${K2},${K1}`);
      for (const tenantId of tenants) {
        await expect(sut.get(JIRA, tenantId)).resolves.toMatchObject({ refreshToken: `refresh-${tenantId}` });
      }
      await sut.upsert(JIRA, 'tenant-d', { refreshToken: 'refresh-tenant-d' });
      await expect(sut.reencryptAll()).resolves.toEqual({ sealed: 3, alreadyCurrent: 1, failed: 0 });

      await boot(K2);
      for (const tenantId of [...tenants, 'tenant-d']) {
        await expect(sut.get(JIRA, tenantId)).resolves.toMatchObject({ refreshToken: `refresh-${tenantId}` });
      }

      await boot(K1);
      const read = sut.get(JIRA, 'tenant-a');
      await expect(read).rejects.toBeInstanceOf(UnknownTokenKeyError);
      await expect(read).rejects.toMatchObject({
        name: 'UnknownTokenKeyError',
        keyId: 'k2',
        message: expect.stringContaining('"k2"'),
      });
    });
  });
});
