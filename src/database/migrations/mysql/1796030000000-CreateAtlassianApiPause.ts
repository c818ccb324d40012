import { MigrationInterface, QueryRunner } from 'typeorm';
import { serverFlavor } from './server-flavor';

/** REST call pauses on MariaDB/MySQL, the key compared exactly like the state's; no token. */
export class CreateAtlassianApiPause1796030000000 implements MigrationInterface {
  name = 'CreateAtlassianApiPause1796030000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { exactCollation } = await serverFlavor(queryRunner);
    await queryRunner.query(
      `CREATE TABLE \`atlassian_api_pause\` (\`scope\` varchar(16) NOT NULL, \`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`paused_until\` datetime(3) NOT NULL, \`reason\` varchar(64) NOT NULL, \`paused_at\` datetime(3) NOT NULL, PRIMARY KEY (\`scope\`, \`platform\`, \`tenant_id\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_api_pause\``);
  }
}
