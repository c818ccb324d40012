import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppModule } from '../../src/app.module';
import {
  AtlassianOauthStateConflictError,
  AtlassianOauthStateEntity,
  AtlassianOauthStateRepo,
} from '../../src/atlassian';
import { DatabaseConnectionError } from '../../src/database/database.errors';
import { DATABASE_ENTITIES } from '../../src/database/database.module';
import { openServerDatabase, serverDataSourceOptions } from '../../src/database/server-database';
import { bootError } from '../support/boot';
import { testConfig, withConfig } from '../support/config';
import { SERVER_MIGRATIONS } from '../../src/database/migrations';
import {
  FreshDatabase,
  SERVERS_UNDER_TEST,
  createFreshDatabase,
  describeOnServer,
  serverConfig,
} from '../support/server-databases';

const PASSWORD = 'S3cret-Pw-that-must-not-leak';
/** Migrations per engine so far: the state table, then the refresh lease table. */
// Every registered migration, each run once.
const MIGRATIONS = SERVER_MIGRATIONS.postgres.length;

const open = (url: string): Promise<DataSource> =>
  openServerDatabase(serverDataSourceOptions(serverConfig(url), DATABASE_ENTITIES));

/** How many migrations the database has recorded as run. */
async function migrationCount(dataSource: DataSource): Promise<number> {
  const rows = await dataSource.query<{ count: string | number }[]>(
    `SELECT COUNT(*) AS count FROM ${dataSource.driver.escape('migrations')}`,
  );
  return Number(rows[0]?.count);
}

/** The URL of `base` with another user, password and/or port. */
function withLogin(base: string, login: { username?: string; password?: string }): string {
  const url = new URL(base);
  if (login.username !== undefined) {
    url.username = login.username;
  }
  if (login.password !== undefined) {
    url.password = login.password;
  }
  return url.toString();
}

describe.each(SERVERS_UNDER_TEST.map((server) => [server.label, server] as const))(
  'server database %s',
  (_label, server) => {
    describeOnServer(server, 'schema and migrations', (adminUrl) => {
      let database: FreshDatabase;
      let dataSource: DataSource;

      beforeAll(async () => {
        database = await createFreshDatabase(adminUrl);
        dataSource = await open(database.url);
      });

      afterAll(async () => {
        await dataSource?.destroy();
        await database?.drop();
      });

      it('creates the table through the versioned migration, never through synchronize', async () => {
        expect(dataSource.options.synchronize).toBe(false);
        await expect(
          dataSource.query(`SELECT name FROM ${dataSource.driver.escape('migrations')} ORDER BY id`),
        ).resolves.toEqual([
          { name: 'CreateAtlassianOauthState1795805829419' },
          { name: 'CreateAtlassianOauthRefreshLease1795807105148' },
          { name: 'CreateAtlassianOauthRefreshHealth1796001986618' },
          { name: 'CreateAtlassianOauthConsentState1796010000000' },
          { name: 'CreateAtlassianSite1796015000000' },
          { name: 'AddAtlassianOauthConsentBrowser1796024000000' },
          { name: 'CreateAtlassianApiPause1796030000000' },
        ]);
      });

      it('leaves nothing for the schema builder to change against the entity (no drift)', async () => {
        const { upQueries } = await dataSource.driver.createSchemaBuilder().log();

        expect(upQueries.map((q) => q.query)).toEqual([]);
      });

      it(`has the ${server.label} column types in information_schema`, async () => {
        const schema = server.type === 'postgres' ? 'current_schema()' : 'DATABASE()';
        const rows = await dataSource.query<
          {
            name: string;
            type: string;
            max_length: number | string | null;
            time_precision: number | string | null;
            nullable: string;
          }[]
        >(
          `SELECT column_name AS name, data_type AS type, character_maximum_length AS max_length, datetime_precision AS time_precision, is_nullable AS nullable
         FROM information_schema.columns WHERE table_name = 'atlassian_oauth_state' AND table_schema = ${schema}`,
        );
        const orNull = (value: number | string | null) => (value === null ? null : Number(value));
        const columns = Object.fromEntries(
          rows.map((r) => [
            r.name,
            {
              type: r.type,
              length: orNull(r.max_length),
              precision: orNull(r.time_precision),
              nullable: r.nullable === 'YES',
            },
          ]),
        );
        if (server.type === 'postgres') {
          expect(columns).toEqual({
            id: { type: 'uuid', length: null, precision: null, nullable: false },
            platform: { type: 'character varying', length: 255, precision: null, nullable: false },
            tenant_id: { type: 'character varying', length: 255, precision: null, nullable: false },
            accessToken: { type: 'text', length: null, precision: null, nullable: true },
            refreshToken: { type: 'text', length: null, precision: null, nullable: false },
            expires_at: { type: 'timestamp with time zone', length: null, precision: 6, nullable: true },
            updatedAt: { type: 'timestamp with time zone', length: null, precision: 6, nullable: false },
          });
        } else {
          expect(columns).toEqual({
            id: { type: 'uuid', length: null, precision: null, nullable: false },
            platform: { type: 'varchar', length: 255, precision: null, nullable: false },
            tenant_id: { type: 'varchar', length: 255, precision: null, nullable: false },
            accessToken: { type: 'text', length: 65535, precision: null, nullable: true },
            refreshToken: { type: 'text', length: 65535, precision: null, nullable: false },
            expires_at: { type: 'datetime', length: null, precision: 3, nullable: true },
            updatedAt: { type: 'datetime', length: null, precision: 3, nullable: false },
          });
        }
      });

      if (server.type === 'mysql') {
        it('compares keys byte for byte without padding, like SQLite and PostgreSQL (utf8mb4_nopad_bin)', async () => {
          const rows = await dataSource.query<{ name: string; collation: string }[]>(
            `SELECT column_name AS name, collation_name AS collation FROM information_schema.columns
           WHERE table_name = 'atlassian_oauth_state' AND table_schema = DATABASE() AND column_name IN ('platform', 'tenant_id')`,
          );

          expect(rows.map((r) => r.collation)).toEqual(['utf8mb4_nopad_bin', 'utf8mb4_nopad_bin']);
        });
      }

      it(`has the ${server.label} column types for the refresh lease too`, async () => {
        const schema = server.type === 'postgres' ? 'current_schema()' : 'DATABASE()';
        const rows = await dataSource.query<{ name: string; type: string; time_precision: number | string | null }[]>(
          `SELECT column_name AS name, data_type AS type, datetime_precision AS time_precision
         FROM information_schema.columns WHERE table_name = 'atlassian_oauth_refresh_lease' AND table_schema = ${schema}`,
        );
        const columns = Object.fromEntries(
          rows.map((r) => [r.name, r.type + (r.time_precision === null ? '' : `(${Number(r.time_precision)})`)]),
        );

        expect(columns).toEqual(
          server.type === 'postgres'
            ? {
                platform: 'character varying',
                tenant_id: 'character varying',
                holder: 'character varying',
                expires_at: 'timestamp with time zone(6)',
              }
            : { platform: 'varchar', tenant_id: 'varchar', holder: 'varchar', expires_at: 'datetime(3)' },
        );
      });

      it(`has the ${server.label} column types for the refresh health, none of them for a token`, async () => {
        const schema = server.type === 'postgres' ? 'current_schema()' : 'DATABASE()';
        const rows = await dataSource.query<{ name: string; type: string }[]>(
          `SELECT column_name AS name, data_type AS type
         FROM information_schema.columns WHERE table_name = 'atlassian_oauth_refresh_health' AND table_schema = ${schema}`,
        );
        const columns = Object.fromEntries(rows.map((r) => [r.name, r.type]));
        const [text, time, int] =
          server.type === 'postgres'
            ? ['character varying', 'timestamp with time zone', 'integer']
            : ['varchar', 'datetime', 'int'];

        expect(columns).toEqual({
          platform: text,
          tenant_id: text,
          status: text,
          state_id: text,
          state_updated_at: time,
          failure: text,
          http_status: int,
          failures: int,
          first_failed_at: time,
          last_failed_at: time,
          retry_at: time,
        });
      });

      it('has a unique constraint on (platform, tenant_id)', async () => {
        const schema = server.type === 'postgres' ? 'current_schema()' : 'DATABASE()';
        const rows = await dataSource.query<{ name: string; column: string }[]>(
          `SELECT tc.constraint_name AS name, kcu.column_name AS ${server.type === 'postgres' ? '"column"' : '`column`'}
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
         WHERE tc.table_name = 'atlassian_oauth_state' AND tc.table_schema = ${schema} AND tc.constraint_type = 'UNIQUE'
         ORDER BY kcu.ordinal_position`,
        );

        expect(rows.map((r) => r.column)).toEqual(['platform', 'tenant_id']);
      });

      it('runs no migration twice when the service boots again', async () => {
        const again = await open(database.url);
        try {
          await expect(migrationCount(again)).resolves.toBe(MIGRATIONS);
        } finally {
          await again.destroy();
        }
      });

      it('reports UPDATE rows as matched, not changed (FOUND_ROWS on MariaDB), which the compare-and-swap relies on', async () => {
        const repository = dataSource.getRepository(AtlassianOauthStateEntity);
        const updatedAt = new Date('2026-01-01T00:00:00.000Z');
        const { identifiers } = await repository.insert({
          platform: 'jira',
          tenantId: 'found-rows',
          refreshToken: 'same',
          updatedAt,
        });
        const id = String(identifiers[0]?.id);

        // Writes exactly the stored values: the row matches but nothing changes.
        await expect(
          repository.update({ id, refreshToken: 'same' }, { refreshToken: 'same', updatedAt }),
        ).resolves.toMatchObject({ affected: 1 });
        await expect(
          repository.update({ id, refreshToken: 'other' }, { refreshToken: 'same', updatedAt }),
        ).resolves.toMatchObject({ affected: 0 });
      });
    });

    describeOnServer(server, 'several replicas booting together', (adminUrl) => {
      let database: FreshDatabase;
      const replicas: DataSource[] = [];

      beforeAll(async () => {
        database = await createFreshDatabase(adminUrl);
      });

      afterAll(async () => {
        await Promise.all(replicas.map((replica) => replica.destroy()));
        await database?.drop();
      });

      it('migrate a fresh database once, one after the other, and all come up', async () => {
        const booted = await Promise.allSettled(Array.from({ length: 4 }, () => open(database.url)));
        for (const result of booted) {
          if (result.status === 'fulfilled') {
            replicas.push(result.value);
          }
        }

        expect(booted.filter((r) => r.status === 'rejected')).toEqual([]);
        expect(replicas).toHaveLength(4);
        await expect(migrationCount(replicas[0]!)).resolves.toBe(MIGRATIONS);
      });
    });

    describeOnServer(server, 'boot failures', (adminUrl) => {
      it('names host and port, never the password, when the login is refused', async () => {
        const url = new URL(adminUrl);
        const login =
          server.type === 'postgres'
            ? { username: 'agent_core_no_such_role', password: PASSWORD }
            : { password: PASSWORD };
        const error = await bootError(withLogin(adminUrl, login));

        expect(error).toBeInstanceOf(DatabaseConnectionError);
        expect(error.message).toContain(`${url.hostname}:${url.port}`);
        expect(error.message).toMatch(
          server.type === 'postgres' ? /role "agent_core_no_such_role" does not exist/ : /Access denied/,
        );
        expect(`${error.message}\n${error.stack ?? ''}`).not.toContain(PASSWORD);
      });
    });

    describeOnServer(server, 'several service instances on one database', (adminUrl) => {
      let database: FreshDatabase;

      beforeAll(async () => {
        database = await createFreshDatabase(adminUrl);
      });

      afterAll(async () => {
        await database?.drop();
      });

      /** Boots `count` service instances (each its own connection pool) on the fresh database, runs `work`, closes them. */
      const withInstances = async (
        count: number,
        fallback: boolean,
        work: (repos: AtlassianOauthStateRepo[]) => Promise<void>,
      ): Promise<void> => {
        const instances = await Promise.all(
          Array.from({ length: count }, () =>
            withConfig(
              Test.createTestingModule({ imports: [AppModule] }),
              testConfig({ DATABASE_URL: database.url }),
            ).compile(),
          ),
        );
        try {
          await instances[0]!.get<DataSource>(getDataSourceToken()).query('DELETE FROM atlassian_oauth_state');
          if (fallback) {
            for (const instance of instances) {
              instance.get<DataSource>(getDataSourceToken()).driver.supportedUpsertTypes.length = 0;
            }
          }
          await work(instances.map((instance) => instance.get(AtlassianOauthStateRepo)));
        } finally {
          await Promise.all(instances.map((instance) => instance.close()));
        }
      };

      it('4 instances x 50 concurrent upserts on 5 shared keys: no failure, one row per key, a value someone wrote', async () => {
        await withInstances(4, false, async (repos) => {
          const keys = ['t0', 't1', 't2', 't3', 't4'];
          const writes = repos.flatMap((repo, i) =>
            Array.from({ length: 50 }, (_, j) =>
              repo.upsert('jira', keys[j % keys.length]!, { refreshToken: `refresh-${i}-${j}` }),
            ),
          );
          const results = await Promise.allSettled(writes);

          expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
          await expect(repos[0]!.count()).resolves.toBe(keys.length);
          for (const [k, key] of keys.entries()) {
            const stored = await repos[0]!.get('jira', key);
            const written = repos.flatMap((_, i) =>
              Array.from({ length: 50 }, (__, j) => (j % keys.length === k ? `refresh-${i}-${j}` : null)),
            );
            expect(written).toContain(stored?.refreshToken);
          }
        });
      });

      it.each([
        ['the upsert path', false],
        ['the find+save fallback', true],
      ])(
        'rotation race on %s: 10 rounds of 4 instances x 5 callers holding the same token, exactly one winner each, all others handed the winner',
        async (_path, fallback) => {
          await withInstances(4, fallback, async (repos) => {
            let expected: string | null = null;
            for (let round = 0; round < 10; round++) {
              const attempts = repos.flatMap((repo, i) =>
                Array.from({ length: 5 }, (_, j) =>
                  repo.upsert(
                    'jira',
                    'race',
                    { accessToken: `access-${round}-${i}-${j}`, refreshToken: `refresh-${round}-${i}-${j}` },
                    { expectedRefreshToken: expected },
                  ),
                ),
              );
              const results = await Promise.allSettled(attempts);

              const winners = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
              expect(winners).toHaveLength(1);
              const winner = winners[0]!;
              for (const result of results) {
                if (result.status === 'rejected') {
                  expect(result.reason).toBeInstanceOf(AtlassianOauthStateConflictError);
                  expect((result.reason as AtlassianOauthStateConflictError).current).toMatchObject({
                    refreshToken: winner.refreshToken,
                    accessToken: winner.accessToken,
                  });
                }
              }
              await expect(repos[round % repos.length]!.get('jira', 'race')).resolves.toMatchObject({
                refreshToken: winner.refreshToken,
                accessToken: winner.accessToken,
              });
              expected = winner.refreshToken;
            }
            await expect(repos[0]!.count()).resolves.toBe(1);
          });
        },
      );
    });
  },
);
