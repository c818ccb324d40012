import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AtlassianOauthStateRepo } from '../../src/atlassian';
import { SQLITE_BUSY_TIMEOUT_MS } from '../../src/database/database.module';
import { describeConditionalWritesAndDelete } from '../support/conditional-writes';
import { FileDatabase, openFileDatabase } from '../support/file-database';

describe('rotation-safe writes on a database file', () => {
  let database: FileDatabase;
  let sut: AtlassianOauthStateRepo;
  let dataSource: DataSource;

  beforeEach(async () => {
    database = await openFileDatabase('agent-core-rotation-');
    sut = database.moduleRef.get(AtlassianOauthStateRepo);
    dataSource = database.moduleRef.get<DataSource>(getDataSourceToken());
  });

  afterEach(async () => {
    await database.close();
  });

  describe('durability settings of the file database', () => {
    it('runs in WAL mode with synchronous=FULL and a busy timeout', async () => {
      await expect(dataSource.query('PRAGMA journal_mode')).resolves.toEqual([{ journal_mode: 'wal' }]);
      await expect(dataSource.query('PRAGMA synchronous')).resolves.toEqual([{ synchronous: 2 }]);
      await expect(dataSource.query('PRAGMA busy_timeout')).resolves.toEqual([{ timeout: SQLITE_BUSY_TIMEOUT_MS }]);
    });
  });

  describeConditionalWritesAndDelete({ sut: () => sut, dataSource: () => dataSource });
});
