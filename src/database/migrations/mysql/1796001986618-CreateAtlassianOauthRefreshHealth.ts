import { MigrationInterface, QueryRunner } from 'typeorm';
import { serverFlavor } from './server-flavor';

/** Refresh health on MariaDB/MySQL, its key compared exactly like the state's; no token. */
export class CreateAtlassianOauthRefreshHealth1796001986618 implements MigrationInterface {
  name = 'CreateAtlassianOauthRefreshHealth1796001986618';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { exactCollation } = await serverFlavor(queryRunner);
    await queryRunner.query(
      `CREATE TABLE \`atlassian_oauth_refresh_health\` (\`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`status\` varchar(16) NOT NULL, \`state_id\` varchar(36) NOT NULL, \`state_updated_at\` datetime(3) NOT NULL, \`failure\` varchar(32) NOT NULL, \`http_status\` int NULL, \`failures\` int NOT NULL, \`first_failed_at\` datetime(3) NOT NULL, \`last_failed_at\` datetime(3) NOT NULL, \`retry_at\` datetime(3) NULL, PRIMARY KEY (\`platform\`, \`tenant_id\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_oauth_refresh_health\``);
  }
}
