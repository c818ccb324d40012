import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Plan BJ-5's `atlassian_oauth_state` on MariaDB/MySQL: `datetime(3)` times (milliseconds, stored
 * as UTC by the connection), `text` tokens, and the uuid TypeORM generates stored as MariaDB's
 * native `uuid` (10.7+) or else as `varchar(36)`, as TypeORM's own mapping does.
 *
 * Strings compare byte for byte without padding (`utf8mb4_nopad_bin` on MariaDB,
 * `utf8mb4_0900_bin` on MySQL 8), as on SQLite and PostgreSQL: with the server's default
 * case-insensitive collation `Tenant-A`, `tenant-a` and `tenant-a ` would be one key and share
 * one row of tokens.
 */
export class CreateAtlassianOauthState1795805829419 implements MigrationInterface {
  name = 'CreateAtlassianOauthState1795805829419';

  async up(queryRunner: QueryRunner): Promise<void> {
    const [{ version }] = (await queryRunner.query(`SELECT VERSION() AS version`)) as [{ version: string }];
    const mariaDb = version.includes('MariaDB');
    const collation = mariaDb ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
    const [major = 0, minor = 0] = version.split('.').map(Number);
    const id = mariaDb && (major > 10 || (major === 10 && minor >= 7)) ? 'uuid' : 'varchar(36)';
    await queryRunner.query(
      `CREATE TABLE \`atlassian_oauth_state\` (\`id\` ${id} NOT NULL, \`platform\` varchar(255) NOT NULL, \`tenant_id\` varchar(255) NOT NULL, \`accessToken\` text NULL, \`refreshToken\` text NOT NULL, \`expires_at\` datetime(3) NULL, \`updatedAt\` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), UNIQUE INDEX \`IDX_1253a704c886bb86d05de9d775\` (\`platform\`, \`tenant_id\`), PRIMARY KEY (\`id\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE \`atlassian_oauth_state\``);
  }
}
