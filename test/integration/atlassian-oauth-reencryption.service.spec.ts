import { Logger } from '@nestjs/common';
import { DataSource, QueryFailedError } from 'typeorm';
import { encryptedFileDatabase } from '../support/encrypted-file-database';
import { newTokenKey } from '../support/env';
import { Environment } from '../../src/config/environment';
import { AtlassianOauthStateEntity } from '../../src/database/entities';
import { TokenEncryptionConfigError, UnknownTokenKeyError } from '../../src/token-cipher/token-cipher.errors';
import { AtlassianOauthStateValidationError } from '../../src/atlassian/atlassian-oauth-state.errors';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { ReencryptProgress } from '../../src/atlassian/atlassian-oauth-state.types';
import { AtlassianOauthReencryptionService } from '../../src/atlassian/reencryption/atlassian-oauth-reencryption.service';

const JIRA = 'jira';
const KEY_1 = newTokenKey();
const KEY_2 = newTokenKey();
const K1 = `k1:${KEY_1}`;
const K2 = `k2:${KEY_2}`;

describe(AtlassianOauthReencryptionService.name, () => {
  let sut: AtlassianOauthReencryptionService;
  let states: AtlassianOauthStateRepo;
  let dataSource: DataSource;
  const database = encryptedFileDatabase();
  const { rawRows, rawRow, insertPlaintextRow } = database;

  /** Boots DatabaseModule + AtlassianModule on the suite's file with the given key ring (`undefined`: none). */
  const boot = async (keys: string | undefined, env: Environment = {}): Promise<void> => {
    const moduleRef = await database.boot(keys, env);
    sut = moduleRef.get(AtlassianOauthReencryptionService);
    states = moduleRef.get(AtlassianOauthStateRepo);
    dataSource = database.dataSource();
  };

  it('refuses to run without keys (plaintext mode), which leaves nothing to seal with', async () => {
    await boot(undefined);

    const rejection = sut.reencryptAll();

    await expect(rejection).rejects.toBeInstanceOf(TokenEncryptionConfigError);
    await expect(rejection).rejects.toMatchObject({
      message: 'reencryptAll needs OAUTH_STATE_ENCRYPTION_KEYS: without a key there is nothing to seal with.',
    });
  });

  describe('reencryptAll', () => {
    beforeEach(() => boot(K1));

    /** `count` tenants sealed under k1 (named t0000, t0001, ...), every third without an access token. */
    const seed = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const name = `t${String(i).padStart(4, '0')}`;
        await states.upsert(JIRA, name, {
          accessToken: i % 3 === 0 ? null : `access-${name}`,
          refreshToken: `refresh-${name}`,
        });
      }
    };

    it('moves every row under the active key in batches, reporting progress, and is idempotent', async () => {
      await seed(23);
      await insertPlaintextRow('legacy', 'access-legacy', 'refresh-legacy');
      const before = await rawRows();
      await boot(`${K2},${K1}`, { OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS: 'true' });
      const progress: ReencryptProgress[] = [];

      await expect(sut.reencryptAll({ batchSize: 5, onProgress: (p) => progress.push(p) })).resolves.toEqual({
        sealed: 23,
        legacyPlaintext: 1,
        alreadyCurrent: 0,
        failed: 0,
      });

      expect(progress.map((p) => p.processed)).toEqual([5, 10, 15, 20, 24]);
      expect(progress.every((p) => p.total === 24)).toBe(true);
      expect(progress[progress.length - 1]).toEqual({
        sealed: 23,
        legacyPlaintext: 1,
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
      await expect(states.get(JIRA, 'legacy')).resolves.toMatchObject({
        accessToken: 'access-legacy',
        refreshToken: 'refresh-legacy',
      });
      await expect(states.get(JIRA, 't0007')).resolves.toMatchObject({
        accessToken: 'access-t0007',
        refreshToken: 'refresh-t0007',
      });

      await expect(sut.reencryptAll({ batchSize: 5 })).resolves.toEqual({
        sealed: 0,
        legacyPlaintext: 0,
        alreadyCurrent: 24,
        failed: 0,
      });
      await expect(rawRows()).resolves.toEqual(after);
    });

    it('takes no other write of this process into a batch: one that fails rolls back alone, writes made meanwhile stay', async () => {
      await seed(40);
      await boot(`${K2},${K1}`);
      // The row read last (pages go in id order) is refused by SQLite: the last batch fails inside its transaction.
      const [last] = await dataSource.query<{ tenant_id: string }[]>(
        'SELECT tenant_id FROM atlassian_oauth_state ORDER BY id DESC LIMIT 1',
      );
      const refused = last?.tenant_id ?? '';
      await dataSource.query(
        `CREATE TRIGGER refuse_last BEFORE UPDATE ON atlassian_oauth_state WHEN OLD.tenant_id = '${refused}' BEGIN SELECT RAISE(ABORT, 'refused'); END`,
      );
      // Other callers of this process write new tenants all along: one in a loop between every
      // await of the run, and one more started after each batch, running into the next one.
      let running = true;
      const written: string[] = [];
      const write = async (tenant: string): Promise<void> => {
        await states.upsert(JIRA, tenant, { refreshToken: `refresh-${tenant}` });
        written.push(tenant);
      };
      const loop = (async () => {
        for (let i = 0; running; i++) {
          await write(`loop-${i}`);
        }
      })();
      const afterBatches: Promise<void>[] = [];

      const failure = await sut
        .reencryptAll({ batchSize: 10, onProgress: (p) => afterBatches.push(write(`after-${p.processed}`)) })
        .catch((error: unknown) => error);
      running = false;
      await Promise.all([loop, ...afterBatches]);

      expect(failure).toBeInstanceOf(QueryFailedError);
      expect(afterBatches.length).toBeGreaterThanOrEqual(3);
      expect(written.length).toBeGreaterThanOrEqual(afterBatches.length + 1);
      for (const tenant of written) {
        await expect(states.get(JIRA, tenant)).resolves.toMatchObject({ refreshToken: `refresh-${tenant}` });
      }
      // The refused row's batch rolled back; every row still opens to its own tokens.
      expect((await rawRow(refused))?.refreshToken).toMatch(/^enc:v1:k1:/);
      for (let i = 0; i < 40; i++) {
        const name = `t${String(i).padStart(4, '0')}`;
        await expect(states.get(JIRA, name)).resolves.toMatchObject({ refreshToken: `refresh-${name}` });
      }
    });

    it('counts a row it cannot open as failed, leaves it as it was, and goes on', async () => {
      await seed(4);
      const t1 = await rawRow('t0001');
      await dataSource.query(`UPDATE atlassian_oauth_state SET refreshToken = ? WHERE tenant_id = 't0002'`, [
        t1.refreshToken,
      ]);
      await boot(`${K2},${K1}`);

      await expect(sut.reencryptAll({ batchSize: 2 })).resolves.toEqual({
        sealed: 3,
        legacyPlaintext: 0,
        alreadyCurrent: 0,
        failed: 1,
      });

      expect((await rawRow('t0002')).refreshToken).toBe(t1.refreshToken);
      await expect(states.get(JIRA, 't0003')).resolves.toMatchObject({ refreshToken: 'refresh-t0003' });
    });

    it('counts a legacy plaintext row, or a half-plaintext one, as failed without OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS', async () => {
      await seed(2);
      await insertPlaintextRow('legacy', 'access-legacy', 'refresh-legacy');
      await dataSource.query(
        `UPDATE atlassian_oauth_state SET accessToken = 'planted-access' WHERE tenant_id = 't0001'`,
      );
      const before = await rawRows();
      await boot(`${K2},${K1}`);
      const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

      try {
        await expect(sut.reencryptAll()).resolves.toEqual({
          sealed: 1,
          legacyPlaintext: 0,
          alreadyCurrent: 0,
          failed: 2,
        });
        const logged = warnings.mock.calls.map(([message]) => String(message));
        expect(logged.sort()).toEqual([
          expect.stringMatching(/^reencryptAll left \("jira", "legacy"\) as it was: .*not a sealed envelope/),
          expect.stringMatching(/^reencryptAll left \("jira", "t0001"\) as it was: .*not a sealed envelope/),
        ]);
        expect(logged.join('\n')).not.toMatch(/legacy-|planted-/);
      } finally {
        warnings.mockRestore();
      }
      const after = await rawRows();
      expect(after.filter((row) => row.tenant_id !== 't0000')).toEqual(
        before.filter((row) => row.tenant_id !== 't0000'),
      );
    });

    it('quotes a tampered key escaped in its warning, so it cannot forge a log line', async () => {
      await seed(1);
      await dataSource.query(
        `UPDATE atlassian_oauth_state SET tenant_id = 'x' || char(10) || 'ERROR forged', refreshToken = 'planted'`,
      );
      await boot(`${K2},${K1}`);
      const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

      try {
        await expect(sut.reencryptAll()).resolves.toMatchObject({ failed: 1 });
        const [[message]] = warnings.mock.calls as [[string]];
        expect(message).not.toContain('\n');
        expect(message).toContain('("jira", "x\\nERROR forged")');
      } finally {
        warnings.mockRestore();
      }
    });

    it('never overwrites a token that a concurrent rotation changed between its read and its write', async () => {
      await seed(60);
      // An old replica that still seals with k1 (a rolling deploy) and one that already has k2.
      const oldReplica = await database.openReplica(K1);
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
            await rotate(i % 4 === 0 ? states : oldReplica.get(AtlassianOauthStateRepo), i);
          }
        },
      });

      try {
        await expect(sut.reencryptAll({ batchSize: 100 })).resolves.toEqual({
          sealed: 45,
          legacyPlaintext: 0,
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
        await expect(states.get(JIRA, name(i))).resolves.toMatchObject(expected);
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
        await states.upsert(JIRA, tenantId, { accessToken: `access-${tenantId}`, refreshToken: `refresh-${tenantId}` });
      }

      await boot(`${K2},${K1}`);
      for (const tenantId of tenants) {
        await expect(states.get(JIRA, tenantId)).resolves.toMatchObject({ refreshToken: `refresh-${tenantId}` });
      }
      await states.upsert(JIRA, 'tenant-d', { refreshToken: 'refresh-tenant-d' });
      await expect(sut.reencryptAll()).resolves.toEqual({
        sealed: 3,
        legacyPlaintext: 0,
        alreadyCurrent: 1,
        failed: 0,
      });

      await boot(K2);
      for (const tenantId of [...tenants, 'tenant-d']) {
        await expect(states.get(JIRA, tenantId)).resolves.toMatchObject({ refreshToken: `refresh-${tenantId}` });
      }

      await boot(K1);
      const read = states.get(JIRA, 'tenant-a');
      await expect(read).rejects.toBeInstanceOf(UnknownTokenKeyError);
      await expect(read).rejects.toMatchObject({
        name: 'UnknownTokenKeyError',
        keyId: 'k2',
        message: expect.stringContaining('"k2"'),
      });
    });
  });

  it('redacts the parameters of a database error that leaves it', async () => {
    await boot(K1);
    await states.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-ERROR-SECRET' });
    await boot(`${K2},${K1}`);
    // The compare-and-swap's UPDATE fails; its parameters are the stored and the resealed tokens.
    await dataSource.query(
      `CREATE TRIGGER refuse_update BEFORE UPDATE ON atlassian_oauth_state BEGIN SELECT RAISE(ABORT, 'refused'); END`,
    );

    const failure = await sut.reencryptAll().catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(QueryFailedError);
    expect(failure).toMatchObject({ parameters: [expect.stringMatching(/^\[\d+ parameters? redacted\]$/)] });
  });
});
