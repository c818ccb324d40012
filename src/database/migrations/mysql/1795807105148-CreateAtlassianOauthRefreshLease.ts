import { MigrationInterface, QueryRunner } from 'typeorm';
import { serverFlavor } from './server-flavor';

/** The refresh lease of `rotate()` on MariaDB/MySQL, its key compared exactly like the state's. */
export class CreateAtlassianOauthRefreshLease1795807105148 implements MigrationInterface {
  name = 'CreateAtlassianOauthRefreshLease1795807105148';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { exactCollation } = await serverFlavor(queryRunner);
    await queryRunner.query(
      `CREATE TABLE \`atlassian_oauth_refresh_lease\` (\`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`holder\` varchar(255) NOT NULL, \`expires_at\` datetime(3) NOT NULL, PRIMARY KEY (\`platform\`, \`tenant_id\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_oauth_refresh_lease\``);
  }
}
