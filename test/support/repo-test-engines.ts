import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianModule } from '../../src/atlassian/atlassian.module';
import { AgentCoreConfig } from '../../src/config/config';
import { DatabaseModule } from '../../src/database/database.module';
import { testConfig, withConfig } from './config';
import {
  FreshDatabase,
  SERVERS_UNDER_TEST,
  ServerUnderTest,
  createFreshDatabase,
  missingServerError,
  missingServerFails,
  serverTestUrl,
} from './server-databases';

/**
 * A database engine the repository suite runs on. A test boots its modules on the engine with
 * `withConfig(builder, engine.config())` (see `./config`): nothing reads `process.env`.
 */
export interface RepoTestEngine {
  readonly name: string;
  /** Before the engine's tests: create its database. */
  setUp(): Promise<void>;
  /** The configuration of a module on this engine's database (after {@link setUp}). */
  config(): AgentCoreConfig;
  /**
   * Before each test, on a booted module: make the tables empty.
   *
   * @throws Error when the module is connected to another database than this engine's (booted
   *   without its {@link config}), so such a test fails instead of quietly running on SQLite.
   */
  reset(dataSource: DataSource): Promise<void>;
  /** After the engine's tests: drop what `setUp` created. */
  tearDown(): Promise<void>;
  /** Column name -> whether the database accepts NULL in it, read from the database's catalog. */
  nullableColumns(dataSource: DataSource): Promise<Record<string, boolean>>;
}

/** Throws unless `dataSource` is connected to the database that `config` names. */
function assertBootedOn(engine: string, config: AgentCoreConfig, dataSource: DataSource): void {
  const { type, database } = config.database;
  const connected = { type: dataSource.options.type, database: dataSource.options.database };
  const expected = type === 'mysql' ? ['mysql', 'mariadb'] : [type];
  if (!expected.includes(connected.type) || connected.database !== database) {
    throw new Error(
      `The module is connected to ${connected.type} ${String(connected.database)}, not to the ${engine} test database: boot it with withConfig(builder, engine.config())`,
    );
  }
}

const sqlite: RepoTestEngine = (() => {
  // A fresh :memory: database per module.
  const config = testConfig();
  return {
    name: 'SQLite',
    setUp: () => Promise.resolve(),
    config: () => config,
    reset: (dataSource) => {
      assertBootedOn('SQLite', config, dataSource);
      return Promise.resolve();
    },
    tearDown: () => Promise.resolve(),
    nullableColumns: async (dataSource) => {
      const columns = await dataSource.query<{ name: string; notnull: number }[]>(
        `PRAGMA table_info('atlassian_oauth_state')`,
      );
      return Object.fromEntries(columns.map((c) => [c.name, c.notnull === 0]));
    },
  };
})();

function serverEngine(server: ServerUnderTest, adminUrl: string): RepoTestEngine {
  let database: FreshDatabase | undefined;
  let config: AgentCoreConfig | undefined;
  const configured = (): AgentCoreConfig => {
    if (!config) {
      throw new Error(`${server.label}: the engine's config is only there between setUp and tearDown`);
    }
    return config;
  };
  return {
    name: server.label,
    setUp: async () => {
      database = await createFreshDatabase(adminUrl);
      config = testConfig({ DATABASE_URL: database.url });
    },
    config: configured,
    reset: async (dataSource) => {
      assertBootedOn(server.label, configured(), dataSource);
      for (const { tableName } of dataSource.entityMetadatas) {
        await dataSource.query(`DELETE FROM ${dataSource.driver.escape(tableName)}`);
      }
    },
    tearDown: async () => {
      config = undefined;
      await database?.drop();
    },
    nullableColumns: async (dataSource) => {
      const columns = await dataSource.query<{ name: string; nullable: string }[]>(
        `SELECT column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_name = 'atlassian_oauth_state' AND table_schema = ${
          server.type === 'postgres' ? 'current_schema()' : 'DATABASE()'
        }`,
      );
      return Object.fromEntries(columns.map((c) => [c.name, c.nullable === 'YES']));
    },
  };
}

/** The engine of a server whose variable is unset under `CI=true`: every test on it fails, saying why. */
function missingServerEngine(server: ServerUnderTest): RepoTestEngine {
  const fail = (): Promise<never> => Promise.reject(missingServerError(server));
  return {
    name: server.label,
    setUp: fail,
    config: () => {
      throw missingServerError(server);
    },
    reset: fail,
    tearDown: () => Promise.resolve(),
    nullableColumns: fail,
  };
}

/**
 * The engines of the repository suite: SQLite always, and each server whose `TEST_*_URL` is set,
 * in a fresh database of its own per run. A server whose variable is unset is left out (`npm test`
 * prints so before the run), except under `CI=true`, where its tests fail instead.
 */
export function repoTestEngines(): [string, RepoTestEngine][] {
  const servers = SERVERS_UNDER_TEST.flatMap((server) => {
    const url = serverTestUrl(server);
    if (url) {
      return [serverEngine(server, url)];
    }
    return missingServerFails() ? [missingServerEngine(server)] : [];
  });
  return [sqlite, ...servers].map((engine) => [engine.name, engine]);
}

/** What {@link bootRepoPerTest} hands each test. */
export interface BootedRepo {
  readonly sut: AtlassianOauthStateRepo;
  readonly dataSource: DataSource;
  /** The booted module, to get the feature's other providers (e.g. its services). */
  readonly moduleRef: TestingModule;
}

/**
 * Sets `engine` up around the calling `describe`, and boots a fresh `DatabaseModule` +
 * `AtlassianModule` on it (tables emptied) before every test, closing it after.
 *
 * @returns the current test's repo and data source; register your own `beforeEach` after this call.
 */
export function bootRepoPerTest(engine: RepoTestEngine): () => BootedRepo {
  let moduleRef: TestingModule | undefined;
  let booted: BootedRepo | undefined;

  beforeAll(() => engine.setUp());
  afterAll(() => engine.tearDown());
  beforeEach(async () => {
    moduleRef = await withConfig(
      Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
      engine.config(),
    ).compile();
    booted = {
      sut: moduleRef.get(AtlassianOauthStateRepo),
      dataSource: moduleRef.get<DataSource>(getDataSourceToken()),
      moduleRef,
    };
    await engine.reset(booted.dataSource);
  });
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    booted = undefined;
  });

  return () => {
    if (!booted) {
      throw new Error('bootRepoPerTest: the module is only booted inside a test');
    }
    return booted;
  };
}
