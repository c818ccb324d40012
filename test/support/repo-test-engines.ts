import { Test, TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianModule } from '../../src/atlassian/atlassian.module';
import { DatabaseModule } from '../../src/database/database.module';
import {
  FreshDatabase,
  SERVERS_UNDER_TEST,
  ServerUnderTest,
  createFreshDatabase,
  serverTestUrl,
} from './server-databases';

/**
 * A database engine the repository suite runs on. The suite boots `DatabaseModule` per test
 * from `process.env`, so an engine only has to point the environment at its database.
 */
export interface RepoTestEngine {
  readonly name: string;
  /** Before the engine's tests: create its database and point `process.env` at it. */
  setUp(): Promise<void>;
  /** Before each test, on a booted module: make the tables empty. */
  reset(dataSource: DataSource): Promise<void>;
  /** After the engine's tests: restore `process.env` and drop what `setUp` created. */
  tearDown(): Promise<void>;
  /** Column name -> whether the database accepts NULL in it, read from the database's catalog. */
  nullableColumns(dataSource: DataSource): Promise<Record<string, boolean>>;
}

const sqlite: RepoTestEngine = (() => {
  let savedUrl: string | undefined;
  return {
    name: 'SQLite',
    setUp: () => {
      // Plan BJ-5: under test, no DATABASE_URL and NODE_ENV=test make it a fresh :memory: per module.
      savedUrl = process.env.DATABASE_URL;
      delete process.env.DATABASE_URL;
      return Promise.resolve();
    },
    reset: () => Promise.resolve(),
    tearDown: () => {
      restore('DATABASE_URL', savedUrl);
      return Promise.resolve();
    },
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
  let savedUrl: string | undefined;
  return {
    name: server.label,
    setUp: async () => {
      database = await createFreshDatabase(adminUrl);
      savedUrl = process.env.DATABASE_URL;
      process.env.DATABASE_URL = database.url;
    },
    reset: async (dataSource) => {
      for (const { tableName } of dataSource.entityMetadatas) {
        await dataSource.query(`DELETE FROM ${dataSource.driver.escape(tableName)}`);
      }
    },
    tearDown: async () => {
      restore('DATABASE_URL', savedUrl);
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

/**
 * The engines of the repository suite: SQLite always, and each server whose `TEST_*_URL` is set,
 * in a fresh database of its own per run.
 */
export function repoTestEngines(): [string, RepoTestEngine][] {
  const servers = SERVERS_UNDER_TEST.flatMap((server) => {
    const url = serverTestUrl(server);
    return url ? [serverEngine(server, url)] : [];
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
    moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }).compile();
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

function restore(variable: string, value: string | undefined): void {
  if (value === undefined) {
    delete process.env[variable];
  } else {
    process.env[variable] = value;
  }
}
