import { BeforeApplicationShutdown, DynamicModule, Injectable, Logger, Module, ModuleMetadata } from '@nestjs/common';
import { InjectDataSource, TypeOrmModule, TypeOrmModuleOptions, getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AgentCoreConfig } from '../config/config';
import { AgentCoreConfigModule } from '../config/config.module';
import { DatabaseConfig, databaseConfig } from '../config/database.config';
import {
  AtlassianApiPauseEntity,
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthConsentStateEntity,
  AtlassianOauthRefreshLeaseEntity,
  AtlassianOauthStateEntity,
  AtlassianSiteEntity,
} from './entities';
import { DatabaseOutageMonitor } from './database-outage.monitor';
import { RedactingTypeOrmLogger } from './redacting-typeorm-logger';
import { isServerDatabase, openServerDatabase, serverDataSourceOptions, withServerOptions } from './server-database';
import {
  SQLITE_JOURNAL_SIZE_LIMIT_BYTES,
  SQLITE_WAL_AUTOCHECKPOINT_PAGES,
  checkpointSqlite,
  openSqliteDatabase,
  sqliteOpenError,
} from './sqlite-database';
import { secureSqliteFile } from './sqlite-file-permissions';

/**
 * How long a SQLite writer waits for another process's write lock before SQLITE_BUSY.
 * A write holds the lock for well under a millisecond, so only a wedged process can exhaust it.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 30_000;

/** Every entity of agent-core: registered with the connection and for injection. */
export const DATABASE_ENTITIES = [
  AtlassianOauthStateEntity,
  AtlassianOauthRefreshLeaseEntity,
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthConsentStateEntity,
  AtlassianSiteEntity,
  AtlassianApiPauseEntity,
];

/**
 * Builds the TypeORM options for a resolved {@link DatabaseConfig}.
 *
 * A SQLite file (created owner-only with its folder by {@link createDataSource}) runs in WAL mode with
 * `synchronous = FULL`: every upsert that resolved has been fsynced, so it survives the process
 * being killed and the machine losing power. Writers in several processes wait up to
 * {@link SQLITE_BUSY_TIMEOUT_MS} for each other instead of failing with SQLITE_BUSY.
 * See https://www.sqlite.org/wal.html and https://www.sqlite.org/pragma.html#pragma_synchronous.
 * The log is checkpointed every {@link SQLITE_WAL_AUTOCHECKPOINT_PAGES} pages and truncated to
 * {@link SQLITE_JOURNAL_SIZE_LIMIT_BYTES} afterwards, so it stays near 1 MB, and emptied on a
 * clean shutdown.
 * The entities are synchronized: on SQLite the entity classes are the schema, with no migrations.
 *
 * On a server database (see {@link serverDataSourceOptions}) nothing is synchronized: the
 * versioned migrations run at boot, after {@link openServerDatabase} has waited up to
 * `DATABASE_CONNECT_RETRY_MS` for the server; then boot fails with a message naming the server.
 */
export function typeOrmOptions(config: DatabaseConfig): TypeOrmModuleOptions {
  if (config.type !== 'better-sqlite3') {
    // Boot retries are openServerDatabase's own (with a backoff and a log line per attempt), not Nest's.
    return withServerOptions(serverDataSourceOptions(config, DATABASE_ENTITIES), { toRetry: () => false });
  }
  const file = config.database !== ':memory:';
  return {
    type: 'better-sqlite3',
    database: config.database,
    entities: DATABASE_ENTITIES,
    // The entity classes are the schema of the embedded database: one file per service, no migration history to keep.
    synchronize: true,
    logging: config.logging,
    // better-sqlite3's `timeout` is SQLite's busy timeout.
    timeout: SQLITE_BUSY_TIMEOUT_MS,
    prepareDatabase: (db: { pragma(source: string): unknown }) => {
      if (file) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma(`journal_size_limit = ${SQLITE_JOURNAL_SIZE_LIMIT_BYTES}`);
        db.pragma(`wal_autocheckpoint = ${SQLITE_WAL_AUTOCHECKPOINT_PAGES}`);
      }
    },
    // TypeORM's own loggers print the query parameters, and those are the tokens.
    logger: new RedactingTypeOrmLogger(config.logging),
    // @nestjs/typeorm retries a failed boot 9 times, 3 s apart. Only lock contention can clear up
    // (processes creating a fresh file at once can get SQLITE_BUSY while switching it to WAL); a
    // file that is not a database, or a folder that cannot be created, fails at once.
    toRetry: isSqliteLockContention,
  };
}

/** True for SQLite's "database is locked" errors, the only boot failures that a retry can cure. */
export function isSqliteLockContention(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code);
}

/**
 * Creates and opens the `DataSource`: a server database is connected (with retries) and migrated,
 * a SQLite file created owner-only with its folder ({@link secureSqliteFile}), then opened and
 * checked (see `openSqliteDatabase`), so a boot error names the server or the file and why.
 */
export async function createDataSource(options: DataSourceOptions): Promise<DataSource> {
  if (isServerDatabase(options)) {
    return openServerDatabase(options);
  }
  if (options.type === 'better-sqlite3') {
    try {
      secureSqliteFile(options.database);
    } catch (error) {
      throw sqliteOpenError(options.database, error);
    }
    return openSqliteDatabase(options);
  }
  return new DataSource(options);
}

/** Empties a SQLite file's write-ahead log when the application closes, before the connection is closed. */
@Injectable()
class SqliteShutdownCheckpoint implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Database');

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async beforeApplicationShutdown(): Promise<void> {
    const { type, database } = this.dataSource.options;
    if (type !== 'better-sqlite3' || database === ':memory:' || !this.dataSource.isInitialized) {
      return;
    }
    try {
      const { busy } = await checkpointSqlite(this.dataSource);
      if (busy) {
        this.logger.log(`The write-ahead log of ${database} stays: another process is reading it`);
      }
    } catch (error) {
      // A full disk can refuse it; SQLite replays the log at the next open, so nothing is lost.
      this.logger.warn(
        `Could not checkpoint ${database} at shutdown (${error instanceof Error ? error.message : String(error)}); the next start replays its write-ahead log`,
      );
    }
  }
}

/** The connection and its entities, on the `database` namespace of whichever configuration is registered. */
function databaseModuleMetadata(configModule: Promise<DynamicModule>): ModuleMetadata {
  return {
    imports: [
      configModule,
      TypeOrmModule.forRootAsync({
        inject: [databaseConfig.KEY],
        useFactory: (config: DatabaseConfig) => typeOrmOptions(config),
        dataSourceFactory: async (options) => createDataSource(options as DataSourceOptions),
      }),
      TypeOrmModule.forFeature(DATABASE_ENTITIES),
    ],
    providers: [
      SqliteShutdownCheckpoint,
      {
        provide: DatabaseOutageMonitor,
        inject: [getDataSourceToken()],
        useFactory: (dataSource: DataSource) => DatabaseOutageMonitor.of(dataSource),
      },
    ],
    exports: [TypeOrmModule, DatabaseOutageMonitor],
  };
}

/**
 * The database connection of agent-core and its entities.
 *
 * It registers the application's configuration ({@link AgentCoreConfigModule}, global), read from
 * `process.env` once at boot, so an application that imports `DatabaseModule` and
 * `AtlassianModule` and nothing else is configured. With `DATABASE_URL` the database is that
 * PostgreSQL or MariaDB/MySQL server, migrated at boot. Otherwise SQLite: with `NODE_ENV=test`
 * `:memory:`; otherwise the file at `DATABASE_PATH` (default `data/agent-core.sqlite`), whose
 * folder is created if missing. It exports the connection's {@link DatabaseOutageMonitor}, for
 * health and metrics.
 */
@Module(databaseModuleMetadata(AgentCoreConfigModule.forEnvironment()))
export class DatabaseModule {
  /**
   * The same connection on a configuration the caller already read with `loadConfig` (the CLI
   * reads it before it opens the database): `process.env` is not read again.
   */
  static forConfig(config: AgentCoreConfig): DynamicModule {
    return { module: ConfiguredDatabaseModule, ...databaseModuleMetadata(AgentCoreConfigModule.forConfig(config)) };
  }
}

/** {@link DatabaseModule.forConfig}'s module: a class of its own, since Nest adds a class's static imports to its dynamic ones. */
@Module({})
class ConfiguredDatabaseModule {}
