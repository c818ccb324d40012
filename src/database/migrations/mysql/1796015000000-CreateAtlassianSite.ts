import { MigrationInterface, QueryRunner } from 'typeorm';
import { serverFlavor } from './server-flavor';

/** The sites each key's grant reaches on MariaDB/MySQL, its key columns compared exactly like the state's; no token. */
export class CreateAtlassianSite1796015000000 implements MigrationInterface {
  name = 'CreateAtlassianSite1796015000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { exactCollation } = await serverFlavor(queryRunner);
    await queryRunner.query(
      `CREATE TABLE \`atlassian_site\` (\`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`cloud_id\` varchar(255) NOT NULL, \`url\` text NOT NULL, \`name\` text NOT NULL, \`scopes\` text NOT NULL, \`avatar_url\` text NULL, \`updated_at\` datetime(3) NOT NULL, PRIMARY KEY (\`platform\`, \`tenant_id\`, \`cloud_id\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_site\``);
  }
}
