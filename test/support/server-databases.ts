import { randomBytes } from 'node:crypto';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ServerDatabaseConfig, ServerDatabaseType, readDatabaseConfig } from '../../src/config/database.config';
import { serverDataSourceOptions } from '../../src/database/server-database';

/** A server engine the server suites run on, and the variable that points them at a server. */
export interface ServerUnderTest {
  readonly type: ServerDatabaseType;
  readonly label: string;
  readonly variable: 'TEST_POSTGRES_URL' | 'TEST_MARIADB_URL';
}

export const SERVERS_UNDER_TEST: readonly ServerUnderTest[] = [
  { type: 'postgres', label: 'PostgreSQL', variable: 'TEST_POSTGRES_URL' },
  { type: 'mysql', label: 'MariaDB', variable: 'TEST_MARIADB_URL' },
];

/** The server URL of a suite, or undefined when its variable is unset. */
export function serverTestUrl(server: ServerUnderTest): string | undefined {
  return process.env[server.variable]?.trim() || undefined;
}

/**
 * Whether a server whose variable is unset fails its suites instead of skipping them: under
 * `CI=true`, so that CI never passes with an engine quietly left out.
 */
export function missingServerFails(): boolean {
  return process.env.CI === 'true';
}

/** Why a suite of `server` fails under `CI=true` when its variable is unset. */
export function missingServerError(server: ServerUnderTest): Error {
  return new Error(`${server.variable} is not set, but CI=true requires every engine to run (see .ci/run)`);
}

/**
 * `describe` for a server suite that runs when the server's variable is set and is skipped
 * otherwise (`npm test` prints why before the run); with `CI=true` a missing variable fails
 * instead, so CI never skips an engine. A server that is named but does not answer fails the suite.
 */
export function describeOnServer(server: ServerUnderTest, name: string, body: (adminUrl: string) => void): void {
  const url = serverTestUrl(server);
  if (url) {
    describe(`${name} on ${server.label}`, () => body(url));
  } else if (missingServerFails()) {
    describe(`${name} on ${server.label}`, () => {
      it(`needs ${server.variable}`, () => {
        throw missingServerError(server);
      });
    });
  } else {
    describe.skip(`${name} on ${server.label} (set ${server.variable} to run)`, () => body(''));
  }
}

/** A database of its own for one engine's run of a suite on its own entities, dropped afterwards. */
interface EntityTestEngine {
  /** A data source on a fresh database with the suite's entities synchronized. */
  open(): Promise<DataSource>;
  close(dataSource: DataSource): Promise<void>;
}

/** Opens `engine` before the suite's tests and closes it after them; the suite reads the data source when it runs. */
function suiteOn(engine: EntityTestEngine, suite: (dataSource: () => DataSource) => void): void {
  let dataSource: DataSource | undefined;
  beforeAll(async () => {
    dataSource = await engine.open();
  });
  afterAll(async () => {
    if (dataSource) {
      await engine.close(dataSource);
    }
  });
  suite(() => {
    if (!dataSource) {
      throw new Error('the engine is open only between its beforeAll and afterAll');
    }
    return dataSource;
  });
}

/**
 * Runs `suite` on SQLite (`:memory:`) and, through {@link describeOnServer}, on each server under
 * test (a fresh database on it, dropped afterwards), each with only `entities` synchronized:
 * nothing else's tables are touched. For suites of a database mechanism on probe entities of their own.
 */
export function describeOnEveryEngine(
  name: string,
  entities: NonNullable<DataSourceOptions['entities']>,
  suite: (dataSource: () => DataSource) => void,
): void {
  const sqlite: EntityTestEngine = {
    open: () =>
      new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, synchronize: true }).initialize(),
    close: (dataSource) => dataSource.destroy(),
  };
  describe(`${name} on SQLite (:memory:)`, () => suiteOn(sqlite, suite));
  for (const server of SERVERS_UNDER_TEST) {
    describeOnServer(server, name, (adminUrl) => {
      let database: FreshDatabase | undefined;
      const engine: EntityTestEngine = {
        open: async () => {
          database = await createFreshDatabase(adminUrl);
          const { type, host, port, username, password } = serverConfig(database.url);
          return new DataSource({
            type,
            host,
            port,
            username,
            password,
            database: database.name,
            entities,
            synchronize: true,
          }).initialize();
        },
        close: async (dataSource) => {
          await dataSource.destroy();
          await database?.drop();
        },
      };
      suiteOn(engine, suite);
    });
  }
}

/** The server config of `url`, as the service would read it from `DATABASE_URL`. */
export function serverConfig(url: string): ServerDatabaseConfig {
  const config = readDatabaseConfig({ DATABASE_URL: url });
  if (config.type === 'better-sqlite3') {
    throw new Error('not a server URL');
  }
  return config;
}

/** A database of its own for one test run, created on the server and dropped afterwards. */
export interface FreshDatabase {
  /** `DATABASE_URL` of the fresh, empty database. */
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named, empty database on the server of `adminUrl` (whose user may create
 * databases), so that runs never see each other's rows.
 */
export async function createFreshDatabase(adminUrl: string): Promise<FreshDatabase> {
  const config = serverConfig(adminUrl);
  const name = `agent_core_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const quoted = config.type === 'postgres' ? `"${name}"` : `\`${name}\``;
  await withAdmin(config, (admin) => admin.query(`CREATE DATABASE ${quoted}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const force = config.type === 'postgres' ? ' WITH (FORCE)' : '';
      await withAdmin(config, (admin) => admin.query(`DROP DATABASE IF EXISTS ${quoted}${force}`));
    },
  };
}

async function withAdmin(config: ServerDatabaseConfig, work: (admin: DataSource) => Promise<unknown>): Promise<void> {
  const admin = new DataSource(serverDataSourceOptions({ ...config, poolSize: 1 }, []));
  await admin.initialize();
  try {
    await work(admin);
  } finally {
    await admin.destroy();
  }
}
