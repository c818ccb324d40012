import { MigrationInterface, QueryRunner } from 'typeorm';

/** REST call pauses on PostgreSQL: the app's or a tenant's, until when and why; no token. */
export class CreateAtlassianApiPause1796030000000 implements MigrationInterface {
  name = 'CreateAtlassianApiPause1796030000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "atlassian_api_pause" ("scope" character varying(16) NOT NULL, "platform" character varying(255) NOT NULL, "tenant_id" character varying(255) NOT NULL, "paused_until" TIMESTAMP WITH TIME ZONE NOT NULL, "reason" character varying(64) NOT NULL, "paused_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_6c6b451be22fc56f40230ede62a" PRIMARY KEY ("scope", "platform", "tenant_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "atlassian_api_pause"`);
  }
}
