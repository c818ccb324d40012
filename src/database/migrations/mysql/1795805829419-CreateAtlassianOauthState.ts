import { MigrationInterface, QueryRunner } from 'typeorm';
import { serverFlavor } from './server-flavor';

/**
 * `atlassian_oauth_state` on MariaDB/MySQL: `datetime(3)` times (milliseconds, stored
 * as UTC by the connection), `text` tokens, and the uuid TypeORM generates stored as MariaDB's
 * native `uuid` (10.7+) or else as `varchar(36)`, as TypeORM's own mapping does. Strings compare
 * exactly (see `ServerFlavor.exactCollation`).
 */
export class CreateAtlassianOauthState1795805829419 implements MigrationInterface {
  name = 'CreateAtlassianOauthState1795805829419';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { nativeUuid, exactCollation } = await serverFlavor(queryRunner);
    const id = nativeUuid ? 'uuid' : 'varchar(36)';
    await queryRunner.query(
      `CREATE TABLE \`atlassian_oauth_state\` (\`id\` ${id} NOT NULL, \`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`accessToken\` text NULL, \`refreshToken\` text NOT NULL, \`expires_at\` datetime(3) NULL, \`updatedAt\` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), UNIQUE INDEX \`IDX_1253a704c886bb86d05de9d775\` (\`platform\`, \`tenant_id\`), PRIMARY KEY (\`id\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_oauth_state\``);
  }
}
