import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianModule } from '../../src/atlassian/atlassian.module';
import { Environment } from '../../src/config/environment';
import { DatabaseModule } from '../../src/database/database.module';
import { testConfig, withConfig } from './config';

/** A row of `atlassian_oauth_state` as SQLite stores it: tokens as written, sealed or not. */
export interface RawRow {
  id: string;
  platform: string;
  tenant_id: string;
  accessToken: string | null;
  refreshToken: string;
  updatedAt: string;
}

/** What {@link encryptedFileDatabase} hands its suite. */
export interface EncryptedFileDatabase {
  /**
   * (Re)boots `DatabaseModule` + `AtlassianModule` on the suite's file with the given key ring
   * (`undefined`: none) and any further variables in `env` (e.g. `OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS`).
   */
  boot: (keys: string | undefined, env?: Environment) => Promise<TestingModule>;
  /**
   * Boots one more, independent `DatabaseModule` + `AtlassianModule` on the same file with the given
   * key ring (another replica); the caller closes it.
   */
  openReplica: (keys: string | undefined) => Promise<TestingModule>;
  /** The module of the last {@link boot}. */
  moduleRef: () => TestingModule;
  dataSource: () => DataSource;
  /** Every row as stored, ordered by platform, then tenant. */
  rawRows: () => Promise<RawRow[]>;
  /** One row as stored; throws when there is none. */
  rawRow: (tenantId: string, platform?: string) => Promise<RawRow>;
  /** Writes a row of `jira` as agent-core did before encryption was switched on. */
  insertPlaintextRow: (tenantId: string, accessToken: string | null, refreshToken: string) => Promise<void>;
}

/**
 * A fresh SQLite file per test of the calling `describe`, so that the same rows outlive a reboot
 * with another key ring; the module is closed and the file removed after each test.
 */
export function encryptedFileDatabase(): EncryptedFileDatabase {
  let dir: string;
  let current: TestingModule | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-core-encryption-'));
  });

  afterEach(async () => {
    await current?.close();
    current = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** The modules on the suite's file, configured with `keys` alone: `process.env` is not read. */
  const compile = (keys: string | undefined, env: Environment = {}): Promise<TestingModule> =>
    withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
      testConfig({ ...env, DATABASE_PATH: join(dir, 'agent-core.sqlite'), OAUTH_STATE_ENCRYPTION_KEYS: keys }),
    ).compile();

  const moduleRef = (): TestingModule => {
    if (!current) {
      throw new Error('encryptedFileDatabase: boot() first');
    }
    return current;
  };
  const dataSource = (): DataSource => moduleRef().get<DataSource>(getDataSourceToken());

  return {
    boot: async (keys, env) => {
      await current?.close();
      current = undefined;
      current = await compile(keys, env);
      return current;
    },
    openReplica: (keys) => compile(keys),
    moduleRef,
    dataSource,
    rawRows: () => dataSource().query<RawRow[]>('SELECT * FROM atlassian_oauth_state ORDER BY platform, tenant_id'),
    rawRow: async (tenantId, platform = 'jira') => {
      const [row] = await dataSource().query<RawRow[]>(
        'SELECT * FROM atlassian_oauth_state WHERE platform = ? AND tenant_id = ?',
        [platform, tenantId],
      );
      if (!row) {
        throw new Error(`no row for ${tenantId}`);
      }
      return row;
    },
    insertPlaintextRow: async (tenantId, accessToken, refreshToken) => {
      await dataSource().query(
        `INSERT INTO atlassian_oauth_state (id, platform, tenant_id, accessToken, refreshToken, updatedAt) VALUES (?, ?, ?, ?, ?, '2025-06-01 12:00:00.000')`,
        [
          `00000000-0000-4000-8000-${tenantId.padStart(12, '0').slice(-12)}`,
          'jira',
          tenantId,
          accessToken,
          refreshToken,
        ],
      );
    },
  };
}
