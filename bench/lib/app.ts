import 'reflect-metadata';
import { DynamicModule, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions, Logger, Repository } from 'typeorm';
import {
  AtlassianModule,
  AtlassianOauthRotationService,
  AtlassianOauthStateEntity,
  AtlassianOauthStateRepo,
  AtlassianOauthTokenService,
  AtlassianOauthTokensModule,
} from '../../src/atlassian';
import { AgentCoreConfig, loadConfig } from '../../src/config/config';
import { AgentCoreConfigModule } from '../../src/config/config.module';
import { TokenCipher } from '../../src/token-cipher/token-cipher';
import { createDataSource, typeOrmOptions } from '../../src/database/database.module';

/**
 * Remembers the SQL TypeORM sends while `recording` is on, so the report can show the query plan
 * of the exact statement `repo.get` runs. Off, it costs one property read per query.
 */
export class SqlRecorder implements Logger {
  recording = false;
  readonly statements: { sql: string; parameters: unknown[] }[] = [];
  /** Called for every statement TypeORM sends, recording or not (the refresh storm counts them). */
  onQuery?: (sql: string) => void;

  logQuery(query: string, parameters?: unknown[]): void {
    this.onQuery?.(query);
    if (this.recording) {
      this.statements.push({ sql: query, parameters: parameters ?? [] });
    }
  }

  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

@Module({})
class BenchAppModule {
  /**
   * `DatabaseModule`'s connection (its options and its data source factory, which migrates a
   * server) on `config`, as a service with its own TypeORM connection would import the store.
   */
  static on(config: AgentCoreConfig, logger: SqlRecorder): DynamicModule {
    return {
      module: BenchAppModule,
      imports: [
        AgentCoreConfigModule.forConfig(config),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...typeOrmOptions(config.database), logger }),
          dataSourceFactory: async (options) => createDataSource(options as DataSourceOptions),
        }),
        AtlassianModule,
        AtlassianOauthTokensModule,
      ],
    };
  }
}

/** A running application context, as a user's service has it: the injected repo, `rotate`'s and `accessToken`'s services and their connection. */
export interface BenchApp {
  readonly context: INestApplicationContext;
  readonly repo: AtlassianOauthStateRepo;
  readonly rotation: AtlassianOauthRotationService;
  readonly tokens: AtlassianOauthTokenService;
  readonly typeormRepository: Repository<AtlassianOauthStateEntity>;
  readonly dataSource: DataSource;
  /** The repo's own cipher (from `OAUTH_STATE_ENCRYPTION_KEYS`): the raw side seals and opens with it too. */
  readonly cipher: TokenCipher;
  readonly recorder: SqlRecorder;
}

/**
 * Boots `AtlassianModule` on `database` (`:memory:`, a SQLite file path, or a server URL as
 * `DATABASE_URL` takes it) with agent-core's own TypeORM options (`typeOrmOptions`), so pragmas,
 * pools and migrations are the production ones.
 */
export async function bootBenchApp(database: string, tokenUrl = 'https://127.0.0.1:9/oauth/token'): Promise<BenchApp> {
  // The token service needs a client to boot. The bench's tokens stay valid (until 2096), so it
  // never refreshes; were it to, the token endpoint is a closed port on this machine, not Atlassian.
  // Only the refresh storm names an endpoint: its own, on 127.0.0.1.
  process.env.ATLASSIAN_CLIENT_ID ??= 'agent-core-bench';
  process.env.ATLASSIAN_CLIENT_SECRET ??= 'agent-core-bench-not-a-secret';
  process.env.ATLASSIAN_OAUTH_TOKEN_URL = tokenUrl;
  const recorder = new SqlRecorder();
  // The key ring comes from this process's environment (see ./processes.ts); the database from `database`.
  const config = loadConfig({
    ...process.env,
    ...(database.includes('://')
      ? { DATABASE_URL: database, DATABASE_PATH: undefined }
      : { DATABASE_PATH: database, DATABASE_URL: undefined }),
  });
  const context = await NestFactory.createApplicationContext(BenchAppModule.on(config, recorder), { logger: false });
  return {
    context,
    repo: context.get(AtlassianOauthStateRepo),
    rotation: context.get(AtlassianOauthRotationService),
    tokens: context.get(AtlassianOauthTokenService),
    typeormRepository: context.get<Repository<AtlassianOauthStateEntity>>(
      getRepositoryToken(AtlassianOauthStateEntity),
    ),
    dataSource: context.get<DataSource>(getDataSourceToken()),
    cipher: context.get(TokenCipher),
    recorder,
  };
}
