import 'reflect-metadata';
import { DynamicModule, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, Logger, Repository } from 'typeorm';
import { AtlassianModule, AtlassianOauthStateEntity, AtlassianOauthStateRepo } from '../../src/atlassian';
import { loadDatabaseConfig } from '../../src/database/database.config';
import { TokenCipher } from '../../src/database/token-cipher';
import { typeOrmOptions } from '../../src/database/database.module';

/**
 * Remembers the SQL TypeORM sends while `recording` is on, so the report can show the query plan
 * of the exact statement `repo.get` runs. Off, it costs one property read per query.
 */
export class SqlRecorder implements Logger {
  recording = false;
  readonly statements: { sql: string; parameters: unknown[] }[] = [];

  logQuery(query: string, parameters?: unknown[]): void {
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
  static on(database: string, logger: SqlRecorder): DynamicModule {
    const options = typeOrmOptions(loadDatabaseConfig({ DATABASE_PATH: database }));
    return {
      module: BenchAppModule,
      imports: [TypeOrmModule.forRoot({ ...options, logger }), AtlassianModule],
    };
  }
}

/** A running application context, as a user's service has it: the injected repo and its connection. */
export interface BenchApp {
  readonly context: INestApplicationContext;
  readonly repo: AtlassianOauthStateRepo;
  readonly typeormRepository: Repository<AtlassianOauthStateEntity>;
  readonly dataSource: DataSource;
  /** The repo's own cipher (from `OAUTH_STATE_ENCRYPTION_KEYS`): the raw side seals and opens with it too. */
  readonly cipher: TokenCipher;
  readonly recorder: SqlRecorder;
}

/**
 * Boots `AtlassianModule` on `database` (`:memory:` or a file path) with agent-core's own
 * TypeORM options (`typeOrmOptions`), so pragmas and settings are the production ones.
 */
export async function bootBenchApp(database: string): Promise<BenchApp> {
  const recorder = new SqlRecorder();
  const context = await NestFactory.createApplicationContext(BenchAppModule.on(database, recorder), { logger: false });
  return {
    context,
    repo: context.get(AtlassianOauthStateRepo),
    typeormRepository: context.get<Repository<AtlassianOauthStateEntity>>(getRepositoryToken(AtlassianOauthStateEntity)),
    dataSource: context.get<DataSource>(getDataSourceToken()),
    cipher: context.get(TokenCipher),
    recorder,
  };
}
