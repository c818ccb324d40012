import { MigrationInterface, QueryRunner } from 'typeorm';

/** Refresh health on PostgreSQL: why a key's last refresh failed, stamped with the state it was seen on; no token. */
export class CreateAtlassianOauthRefreshHealth1796001986618 implements MigrationInterface {
  name = 'CreateAtlassianOauthRefreshHealth1796001986618';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "atlassian_oauth_refresh_health" ("platform" character varying(255) NOT NULL, "tenant_id" character varying(255) NOT NULL, "status" character varying(16) NOT NULL, "state_id" character varying(36) NOT NULL, "state_updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "failure" character varying(32) NOT NULL, "http_status" integer, "failures" integer NOT NULL, "first_failed_at" TIMESTAMP WITH TIME ZONE NOT NULL, "last_failed_at" TIMESTAMP WITH TIME ZONE NOT NULL, "retry_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_73497d419112bec8eff425d76f8" PRIMARY KEY ("platform", "tenant_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "atlassian_oauth_refresh_health"`);
  }
}
