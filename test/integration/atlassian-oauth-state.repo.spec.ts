import { setTimeout as sleep } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { DataSource } from 'typeorm';
import { describeConditionalWritesAndDelete } from '../support/conditional-writes';
import { RepoTestEngine, bootRepoPerTest, repoTestEngines } from '../support/repo-test-engines';
import { FIRST, JIRA, SECOND, TENANT } from '../support/state-fixtures';
import { AtlassianOauthStateEntity } from '../../src/database/entities';
import { isUniqueViolation } from '../../src/database/unique-violation';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthTokens } from '../../src/atlassian/atlassian-oauth-state.types';

// One suite, run on SQLite always and on each server whose TEST_POSTGRES_URL / TEST_MARIADB_URL is set.
describe.each(repoTestEngines())(
  `${AtlassianOauthStateRepo.name} on %s`,
  (_engineName: string, engine: RepoTestEngine) => {
    let sut: AtlassianOauthStateRepo;
    let dataSource: DataSource;

    const rowCount = async (): Promise<number> => dataSource.getRepository(AtlassianOauthStateEntity).count();

    const booted = bootRepoPerTest(engine);
    beforeEach(() => {
      ({ sut, dataSource } = booted());
    });

    it('runs on its database with the table in place: in-memory SQLite unless DATABASE_URL names a server', async () => {
      expect(dataSource.options.database).toEqual(
        engine.name === 'SQLite' ? ':memory:' : expect.stringMatching(/^agent_core_test_/),
      );
      await expect(engine.nullableColumns(dataSource)).resolves.toEqual({
        id: false,
        platform: false,
        tenant_id: false,
        accessToken: true,
        refreshToken: false,
        expires_at: true,
        updatedAt: false,
      });
    });

    describe('upsert and get', () => {
      it('inserts a new state and resolves with the stored entity', async () => {
        const stored = await sut.upsert(JIRA, TENANT, FIRST);

        expect(stored).toBeInstanceOf(AtlassianOauthStateEntity);
        expect(stored).toEqual({
          id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          platform: JIRA,
          tenantId: TENANT,
          ...FIRST,
          updatedAt: expect.any(Date),
        });
        await expect(rowCount()).resolves.toBe(1);
      });

      it('reads the stored state back with get', async () => {
        const stored = await sut.upsert(JIRA, TENANT, FIRST);

        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(stored);
      });

      it('resolves null for a key that has no state', async () => {
        await expect(sut.get(JIRA, 'nobody')).resolves.toBeNull();
      });

      it('replaces the state on the same key without a duplicate row and keeps the id', async () => {
        const first = await sut.upsert(JIRA, TENANT, FIRST);
        const second = await sut.upsert(JIRA, TENANT, SECOND);

        expect(second).toEqual({ ...first, ...SECOND, updatedAt: expect.any(Date) });
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(second);
        await expect(rowCount()).resolves.toBe(1);
      });

      it('is idempotent when the same tokens are written twice', async () => {
        await sut.upsert(JIRA, TENANT, FIRST);
        await sut.upsert(JIRA, TENANT, FIRST);

        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject(FIRST);
        await expect(rowCount()).resolves.toBe(1);
      });

      it('round-trips a null accessToken and expiresAt', async () => {
        await sut.upsert(JIRA, TENANT, { accessToken: null, refreshToken: 'refresh-only', expiresAt: null });

        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({
          accessToken: null,
          refreshToken: 'refresh-only',
          expiresAt: null,
        });
      });

      it('stores omitted accessToken and expiresAt as null, never keeping the previous ones', async () => {
        await sut.upsert(JIRA, TENANT, FIRST);
        await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-2' });

        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({
          accessToken: null,
          refreshToken: 'refresh-2',
          expiresAt: null,
        });
      });

      it('advances updatedAt on every upsert, including the conflict-update path', async () => {
        const first = await sut.upsert(JIRA, TENANT, FIRST);
        await sleep(5);
        const second = await sut.upsert(JIRA, TENANT, SECOND);
        await sleep(5);
        const third = await sut.upsert(JIRA, TENANT, SECOND);

        expect(second.updatedAt.getTime()).toBeGreaterThan(first.updatedAt.getTime());
        expect(third.updatedAt.getTime()).toBeGreaterThan(second.updatedAt.getTime());
      });

      it('advances updatedAt also between back-to-back upserts within one millisecond', async () => {
        const stamps: number[] = [];
        for (let i = 0; i < 20; i++) {
          stamps.push((await sut.upsert(JIRA, TENANT, { refreshToken: `refresh-${i}` })).updatedAt.getTime());
        }

        expect(stamps.every((stamp, i) => i === 0 || stamp > (stamps[i - 1] ?? Infinity))).toBe(true);
        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({
          refreshToken: 'refresh-19',
          updatedAt: new Date(stamps[19] ?? 0),
        });
      });

      it('accepts a Date made in another realm (e.g. a VM context) and stores a copy', async () => {
        const foreign = runInNewContext('new Date("2031-01-01T00:00:00.000Z")') as Date;

        const stored = await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-1', expiresAt: foreign });

        expect(stored.expiresAt).not.toBe(foreign);
        await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ expiresAt: new Date('2031-01-01T00:00:00.000Z') });
      });

      it('keeps platforms and tenants apart', async () => {
        await sut.upsert('jira', 'tenant-a', { refreshToken: 'jira-a' });
        await sut.upsert('jira', 'tenant-b', { refreshToken: 'jira-b' });
        await sut.upsert('confluence', 'tenant-a', { refreshToken: 'confluence-a' });
        await sut.upsert('jira', 'tenant-b', { refreshToken: 'jira-b-2' });

        await expect(sut.get('jira', 'tenant-a')).resolves.toMatchObject({ refreshToken: 'jira-a' });
        await expect(sut.get('jira', 'tenant-b')).resolves.toMatchObject({ refreshToken: 'jira-b-2' });
        await expect(sut.get('confluence', 'tenant-a')).resolves.toMatchObject({ refreshToken: 'confluence-a' });
        await expect(sut.get('confluence', 'tenant-b')).resolves.toBeNull();
        await expect(rowCount()).resolves.toBe(3);
      });

      it('keeps keys apart that differ only in case, accents or trailing spaces, on every engine', async () => {
        const tenants = ['tenant-a', 'TENANT-A', 'tenant-a ', 'ténant-a'];
        for (const tenantId of tenants) {
          await sut.upsert(JIRA, tenantId, { refreshToken: `refresh of ${tenantId}` });
        }

        for (const tenantId of tenants) {
          await expect(sut.get(JIRA, tenantId)).resolves.toMatchObject({
            tenantId,
            refreshToken: `refresh of ${tenantId}`,
          });
        }
        await expect(rowCount()).resolves.toBe(tenants.length);
      });

      if (engine.name === 'SQLite') {
        // A rewritten key costs a second page (the unique index's) in every commit to the WAL file.
        it('replaces the tokens of a stored key without rewriting its key columns (SQLite UPDATE OF trigger)', async () => {
          await sut.upsert(JIRA, TENANT, FIRST);
          await dataSource.query('CREATE TABLE key_rewrites (platform TEXT)');
          await dataSource.query(
            'CREATE TRIGGER key_rewrite AFTER UPDATE OF platform, tenant_id ON atlassian_oauth_state ' +
              'BEGIN INSERT INTO key_rewrites VALUES (new.platform); END',
          );
          await sut.upsert(JIRA, TENANT, SECOND);
          await expect(sut.get(JIRA, TENANT)).resolves.toMatchObject({ refreshToken: SECOND.refreshToken });
          await expect(dataSource.query('SELECT platform FROM key_rewrites')).resolves.toEqual([]);
        });
      }

      it('leaves exactly one row after 50 concurrent upserts on one key', async () => {
        const writes = Array.from({ length: 50 }, (_, i) => sut.upsert(JIRA, TENANT, { refreshToken: `refresh-${i}` }));
        const results = await Promise.all(writes);

        // Each caller gets the state it wrote, with the one row's id.
        expect(results.map((r) => r.refreshToken)).toEqual(Array.from({ length: 50 }, (_, i) => `refresh-${i}`));
        expect(new Set(results.map((r) => r.id)).size).toBe(1);
        await expect(rowCount()).resolves.toBe(1);
        const stored = await sut.get(JIRA, TENANT);
        expect(Array.from({ length: 50 }, (_, i) => `refresh-${i}`)).toContain(stored?.refreshToken);
      });

      it('round-trips long, unicode and quote-laden values exactly', async () => {
        const tokens: AtlassianOauthTokens = {
          accessToken: 'a'.repeat(8 * 1024) + '\u{1F511}',
          refreshToken: `r'"; DROP TABLE atlassian_oauth_state; --\\ ünïcødé 令牌 ${'z'.repeat(8 * 1024)}`,
          expiresAt: new Date('2030-06-15T23:59:59.999Z'),
        };
        const platform = `jira "cloud" 'ö'`;
        const tenantId = 'tenant \u00e9\u{1F600}';

        await sut.upsert(platform, tenantId, tokens);

        await expect(sut.get(platform, tenantId)).resolves.toMatchObject({ platform, tenantId, ...tokens });
      });
    });

    describe('list', () => {
      it('resolves an empty list when nothing is stored', async () => {
        await expect(sut.list()).resolves.toEqual([]);
      });

      it('summarizes every state ordered by platform, then tenantId, without token values', async () => {
        const b = await sut.upsert('jira', 'tenant-b', { refreshToken: 'refresh-jira-b' });
        const a = await sut.upsert('jira', 'tenant-a', FIRST);
        const c = await sut.upsert('confluence', 'tenant-c', { accessToken: 'access-c', refreshToken: 'refresh-c' });

        const listed = await sut.list();

        expect(listed).toEqual([
          {
            platform: 'confluence',
            tenantId: 'tenant-c',
            hasAccessToken: true,
            expiresAt: null,
            updatedAt: c.updatedAt,
          },
          {
            platform: 'jira',
            tenantId: 'tenant-a',
            hasAccessToken: true,
            expiresAt: FIRST.expiresAt,
            updatedAt: a.updatedAt,
          },
          { platform: 'jira', tenantId: 'tenant-b', hasAccessToken: false, expiresAt: null, updatedAt: b.updatedAt },
        ]);
        expect(JSON.stringify(listed)).not.toMatch(/access-|refresh-/);
      });

      it('lists only the given platform', async () => {
        await sut.upsert('jira', 'tenant-a', FIRST);
        await sut.upsert('confluence', 'tenant-a', SECOND);

        await expect(sut.list({ platform: 'confluence' })).resolves.toEqual([
          expect.objectContaining({ platform: 'confluence', tenantId: 'tenant-a' }),
        ]);
        await expect(sut.list({ platform: 'bitbucket' })).resolves.toEqual([]);
      });

      it('refuses a blank platform filter', async () => {
        await expect(sut.list({ platform: ' ' })).rejects.toMatchObject({
          name: 'AtlassianOauthStateValidationError',
          field: 'platform',
        });
      });
    });

    describe('conditional upsert and delete', () => {
      describeConditionalWritesAndDelete({ sut: () => sut, dataSource: () => dataSource });
    });

    describe('the unique constraint', () => {
      it('is enforced by the database itself for a raw duplicate insert', async () => {
        const { driver } = dataSource;
        const columns = ['id', 'platform', 'tenant_id', 'refreshToken', 'updatedAt'];
        const insert = `INSERT INTO atlassian_oauth_state (${columns.map((c) => driver.escape(c)).join(', ')}) VALUES (${columns.map((c, i) => driver.createParameter(c, i)).join(', ')})`;
        const row = (id: string, refreshToken: string) => [id, JIRA, TENANT, refreshToken, '2026-01-01 00:00:00.000'];
        await dataSource.query(insert, row('00000000-0000-4000-8000-000000000001', 'raw-1'));

        const duplicate = await dataSource.query(insert, row('00000000-0000-4000-8000-000000000002', 'raw-2')).then(
          () => 'inserted',
          (error: unknown) => (isUniqueViolation(error) ? 'unique violation' : error),
        );
        expect(duplicate).toBe('unique violation');
        await expect(rowCount()).resolves.toBe(1);
      });
    });

    describe('the find+save fallback for drivers without upsert', () => {
      beforeEach(() => {
        dataSource.driver.supportedUpsertTypes.length = 0;
      });

      it('makes Repository.upsert unusable, so the fallback is what runs', async () => {
        await expect(
          dataSource
            .getRepository(AtlassianOauthStateEntity)
            .upsert({ platform: JIRA, tenantId: TENANT, refreshToken: 'x' }, ['platform', 'tenantId']),
        ).rejects.toThrow(/not supported by the current database driver/);
      });

      it('inserts, updates in place, nulls omitted fields and advances updatedAt', async () => {
        const first = await sut.upsert(JIRA, TENANT, FIRST);
        await sleep(5);
        const second = await sut.upsert(JIRA, TENANT, { refreshToken: 'refresh-2' });

        expect(second).toEqual({
          ...first,
          accessToken: null,
          refreshToken: 'refresh-2',
          expiresAt: null,
          updatedAt: expect.any(Date),
        });
        expect(second.updatedAt.getTime()).toBeGreaterThan(first.updatedAt.getTime());
        await expect(sut.get(JIRA, TENANT)).resolves.toEqual(second);
        await expect(rowCount()).resolves.toBe(1);
      });

      it('survives 50 concurrent first writes on one key with exactly one row', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) => sut.upsert(JIRA, TENANT, { refreshToken: `refresh-${i}` })),
        );

        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        await expect(rowCount()).resolves.toBe(1);
      });
    });
  },
);
