import { MigrationInterface, QueryRunner } from 'typeorm';
import { serverFlavor } from './server-flavor';

/** The consent flow's single-use `state` rows on MariaDB/MySQL, its key columns compared exactly like the state's. */
export class CreateAtlassianOauthConsentState1796010000000 implements MigrationInterface {
  name = 'CreateAtlassianOauthConsentState1796010000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { exactCollation } = await serverFlavor(queryRunner);
    await queryRunner.query(
      `CREATE TABLE \`atlassian_oauth_consent_state\` (\`state_hash\` varchar(64) NOT NULL, \`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`return_to\` text NOT NULL, \`expires_at\` datetime(3) NOT NULL, INDEX \`IDX_035842e6c3a213a3c1666cd390\` (\`expires_at\`), PRIMARY KEY (\`state_hash\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_oauth_consent_state\``);
  }
}
