import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Module } from '@nestjs/common';
import { TypeOrmModule, TypeOrmModuleOptions } from '@nestjs/typeorm';
import { DatabaseConfig, loadDatabaseConfig } from './database.config';
import { AtlassianOauthStateEntity } from './entities';

/** Builds the TypeORM options for a resolved {@link DatabaseConfig}. */
export function typeOrmOptions(config: DatabaseConfig): TypeOrmModuleOptions {
  if (config.database !== ':memory:') {
    mkdirSync(dirname(config.database), { recursive: true });
  }
  return {
    type: 'better-sqlite3',
    database: config.database,
    entities: [AtlassianOauthStateEntity],
    // Plan BJ-5: the entity is the de-facto migration on the embedded SQLite database.
    synchronize: true,
    logging: config.logging,
  };
}

/**
 * The database connection of agent-core and its entities.
 *
 * The configuration comes from {@link loadDatabaseConfig}: with `NODE_ENV=test` the database is
 * `:memory:`; otherwise the SQLite file at `DATABASE_PATH` (default `data/agent-core.sqlite`),
 * whose folder is created if missing.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({ useFactory: () => typeOrmOptions(loadDatabaseConfig()) }),
    TypeOrmModule.forFeature([AtlassianOauthStateEntity]),
  ],
  exports: [TypeOrmModule],
})
export class DatabaseModule {}
