import { MigrationInterface } from 'typeorm';
import { ServerDatabaseType } from '../database.config';
import { CreateAtlassianOauthState1795805829419 as MysqlCreateAtlassianOauthState } from './mysql/1795805829419-CreateAtlassianOauthState';
import { CreateAtlassianOauthState1795805829419 as PostgresCreateAtlassianOauthState } from './postgres/1795805829419-CreateAtlassianOauthState';

/**
 * The versioned schema of each server engine, oldest first: boot runs the ones a database has
 * not seen yet. Append a generated migration here (README: "Running on PostgreSQL or MariaDB").
 */
export const SERVER_MIGRATIONS: Readonly<Record<ServerDatabaseType, readonly (new () => MigrationInterface)[]>> = {
  postgres: [PostgresCreateAtlassianOauthState],
  mysql: [MysqlCreateAtlassianOauthState],
};
