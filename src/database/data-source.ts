import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/config';
import { DatabaseConfigError } from './database.errors';
import { DATABASE_ENTITIES } from './database.module';
import { serverDataSourceOptions } from './server-database';

/**
 * The `DataSource` the TypeORM CLI works with (`npm run migration:generate`, `migration:run`,
 * `migration:revert`): the server database `DATABASE_URL` names, mapped exactly as the service
 * maps it. Use `mariadb://` for a MariaDB server so TypeORM reads its catalogue as MariaDB's.
 */
const config = loadConfig(process.env).database;
if (config.type === 'better-sqlite3') {
  throw new DatabaseConfigError(
    'DATABASE_URL',
    'must name a PostgreSQL or MariaDB/MySQL server for the migration commands (SQLite synchronizes instead)',
  );
}

export default new DataSource(serverDataSourceOptions(config, DATABASE_ENTITIES));
