import { MigrationInterface } from 'typeorm';
import { ServerDatabaseType } from '../../config/database.config';
import { CreateAtlassianOauthState1795805829419 as MysqlCreateAtlassianOauthState } from './mysql/1795805829419-CreateAtlassianOauthState';
import { CreateAtlassianOauthRefreshLease1795807105148 as MysqlCreateAtlassianOauthRefreshLease } from './mysql/1795807105148-CreateAtlassianOauthRefreshLease';
import { CreateAtlassianOauthRefreshHealth1796001986618 as MysqlCreateAtlassianOauthRefreshHealth } from './mysql/1796001986618-CreateAtlassianOauthRefreshHealth';
import { CreateAtlassianOauthConsentState1796010000000 as MysqlCreateAtlassianOauthConsentState } from './mysql/1796010000000-CreateAtlassianOauthConsentState';
import { CreateAtlassianSite1796015000000 as MysqlCreateAtlassianSite } from './mysql/1796015000000-CreateAtlassianSite';
import { AddAtlassianOauthConsentBrowser1796024000000 as MysqlAddAtlassianOauthConsentBrowser } from './mysql/1796024000000-AddAtlassianOauthConsentBrowser';
import { CreateAtlassianApiPause1796030000000 as MysqlCreateAtlassianApiPause } from './mysql/1796030000000-CreateAtlassianApiPause';
import { CreateAtlassianOauthState1795805829419 as PostgresCreateAtlassianOauthState } from './postgres/1795805829419-CreateAtlassianOauthState';
import { CreateAtlassianOauthRefreshLease1795807105148 as PostgresCreateAtlassianOauthRefreshLease } from './postgres/1795807105148-CreateAtlassianOauthRefreshLease';
import { CreateAtlassianOauthRefreshHealth1796001986618 as PostgresCreateAtlassianOauthRefreshHealth } from './postgres/1796001986618-CreateAtlassianOauthRefreshHealth';
import { CreateAtlassianOauthConsentState1796010000000 as PostgresCreateAtlassianOauthConsentState } from './postgres/1796010000000-CreateAtlassianOauthConsentState';
import { CreateAtlassianSite1796015000000 as PostgresCreateAtlassianSite } from './postgres/1796015000000-CreateAtlassianSite';
import { AddAtlassianOauthConsentBrowser1796024000000 as PostgresAddAtlassianOauthConsentBrowser } from './postgres/1796024000000-AddAtlassianOauthConsentBrowser';
import { CreateAtlassianApiPause1796030000000 as PostgresCreateAtlassianApiPause } from './postgres/1796030000000-CreateAtlassianApiPause';

/**
 * The versioned schema of each server engine, oldest first: boot runs the ones a database has
 * not seen yet. Append a generated migration here (docs/servers.md: "Running on PostgreSQL or MariaDB").
 */
export const SERVER_MIGRATIONS: Readonly<Record<ServerDatabaseType, readonly (new () => MigrationInterface)[]>> = {
  postgres: [
    PostgresCreateAtlassianOauthState,
    PostgresCreateAtlassianOauthRefreshLease,
    PostgresCreateAtlassianOauthRefreshHealth,
    PostgresCreateAtlassianOauthConsentState,
    PostgresCreateAtlassianSite,
    PostgresAddAtlassianOauthConsentBrowser,
    PostgresCreateAtlassianApiPause,
  ],
  mysql: [
    MysqlCreateAtlassianOauthState,
    MysqlCreateAtlassianOauthRefreshLease,
    MysqlCreateAtlassianOauthRefreshHealth,
    MysqlCreateAtlassianOauthConsentState,
    MysqlCreateAtlassianSite,
    MysqlAddAtlassianOauthConsentBrowser,
    MysqlCreateAtlassianApiPause,
  ],
};
