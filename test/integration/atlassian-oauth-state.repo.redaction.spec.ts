import { inspect } from 'node:util';
import { DataSource, QueryFailedError } from 'typeorm';
import { RepoTestEngine, bootRepoPerTest, repoTestEngines } from '../support/repo-test-engines';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthRotationService } from '../../src/atlassian/rotation/atlassian-oauth-rotation.service';

const JIRA = 'jira';
/** Every token of these tests holds it, so that the constraint below refuses exactly them. */
const MARK = 'REFUSEDBYCHECK';
const ACCESS = `access-${MARK}-secret`;
const REFRESH = `refresh-${MARK}-secret`;

/**
 * A real constraint failure on each engine, on a write of the tokens: a CHECK constraint on
 * PostgreSQL and MariaDB (PostgreSQL then reports `Failing row contains (..., <tokens>, ...)` in
 * `detail`), a trigger on SQLite, which cannot add a CHECK to an existing table.
 */
async function refuseMarkedTokens(dataSource: DataSource): Promise<() => Promise<void>> {
  const type = dataSource.options.type;
  if (type === 'better-sqlite3') {
    for (const event of ['INSERT', 'UPDATE']) {
      await dataSource.query(
        `CREATE TRIGGER refuse_marked_${event} BEFORE ${event} ON atlassian_oauth_state WHEN NEW.refreshToken LIKE '%${MARK}%' BEGIN SELECT RAISE(ABORT, 'refused'); END`,
      );
    }
    return async () => {
      await dataSource.query('DROP TRIGGER refuse_marked_INSERT');
      await dataSource.query('DROP TRIGGER refuse_marked_UPDATE');
    };
  }
  const column = type === 'postgres' ? '"refreshToken"' : '`refreshToken`';
  await dataSource.query(
    `ALTER TABLE atlassian_oauth_state ADD CONSTRAINT refuse_marked CHECK (${column} NOT LIKE '%${MARK}%')`,
  );
  return async () => void (await dataSource.query('ALTER TABLE atlassian_oauth_state DROP CONSTRAINT refuse_marked'));
}

/** Everything a caller could print of the error: inspect with hidden fields, JSON, and the driver's error alike. */
function printable(error: unknown): string {
  const { driverError } = error as { driverError?: unknown };
  return [
    inspect(error, { depth: 10, showHidden: true }),
    JSON.stringify(error),
    inspect(driverError, { depth: 10, showHidden: true }),
    JSON.stringify(driverError),
  ].join('\n');
}

describe.each(repoTestEngines())(
  `${AtlassianOauthStateRepo.name}: a database error that leaves a public method carries no value, on %s`,
  (_engineName: string, engine: RepoTestEngine) => {
    const booted = bootRepoPerTest(engine);

    const writes: [
      string,
      (sut: AtlassianOauthStateRepo, rotation: AtlassianOauthRotationService) => Promise<unknown>,
    ][] = [
      ['upsert', (sut) => sut.upsert(JIRA, 'tenant-a', { accessToken: ACCESS, refreshToken: REFRESH })],
      [
        'a conditional upsert (first connect)',
        (sut) =>
          sut.upsert(JIRA, 'tenant-a', { accessToken: ACCESS, refreshToken: REFRESH }, { expectedRefreshToken: null }),
      ],
    ];

    it.each(writes)(
      '%s: no token in detail, where, parameters, sql, sqlMessage or the message',
      async (_case, write) => {
        const { sut, dataSource, moduleRef } = booted();
        const restore = await refuseMarkedTokens(dataSource);
        try {
          const error = await write(sut, moduleRef.get(AtlassianOauthRotationService)).catch((e: unknown) => e);

          expect(error).toBeInstanceOf(QueryFailedError);
          const text = printable(error);
          expect(text).not.toContain(MARK);
          expect(text).toMatch(/parameters? redacted/);
          if (dataSource.options.type === 'postgres') {
            // The field that used to hold `Failing row contains (...)` is still there, redacted.
            expect(error).toMatchObject({ detail: expect.stringMatching(/^\[redacted/), code: '23514' });
          }
        } finally {
          await restore();
        }
      },
    );

    it("rotate: the refresh's result refused by the database leaves no token in the error either", async () => {
      const { sut, dataSource, moduleRef } = booted();
      await sut.upsert(JIRA, 'tenant-a', { refreshToken: 'refresh-old', expiresAt: null });
      const restore = await refuseMarkedTokens(dataSource);
      try {
        const error = await moduleRef
          .get(AtlassianOauthRotationService)
          .rotate(JIRA, 'tenant-a', () => ({ accessToken: ACCESS, refreshToken: REFRESH }))
          .catch((e: unknown) => e);

        expect(error).toBeInstanceOf(QueryFailedError);
        expect(printable(error)).not.toContain(MARK);
      } finally {
        await restore();
      }
    });
  },
);
