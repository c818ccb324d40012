import { MigrationInterface, QueryRunner } from 'typeorm';

/** The refresh lease of `rotate()` on PostgreSQL: `timestamptz` expiry, primary key `(platform, tenant_id)`. */
export class CreateAtlassianOauthRefreshLease1795807105148 implements MigrationInterface {
  name = 'CreateAtlassianOauthRefreshLease1795807105148';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "atlassian_oauth_refresh_lease" ("platform" character varying(255) NOT NULL, "tenant_id" character varying(255) NOT NULL, "holder" character varying(255) NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_27238a9d191ef8501707517ac19" PRIMARY KEY ("platform", "tenant_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "atlassian_oauth_refresh_lease"`);
  }
}
