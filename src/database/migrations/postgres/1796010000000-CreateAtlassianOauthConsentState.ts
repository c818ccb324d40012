import { MigrationInterface, QueryRunner } from 'typeorm';

/** The consent flow's single-use `state` rows on PostgreSQL: hashed state as primary key, expiry indexed for purging. */
export class CreateAtlassianOauthConsentState1796010000000 implements MigrationInterface {
  name = 'CreateAtlassianOauthConsentState1796010000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "atlassian_oauth_consent_state" ("state_hash" character varying(64) NOT NULL, "platform" character varying(255) NOT NULL, "tenant_id" character varying(255) NOT NULL, "return_to" text NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_e98974fe61830cb1e8a55c400db" PRIMARY KEY ("state_hash"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_035842e6c3a213a3c1666cd390" ON "atlassian_oauth_consent_state" ("expires_at")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_035842e6c3a213a3c1666cd390"`);
    await queryRunner.query(`DROP TABLE "atlassian_oauth_consent_state"`);
  }
}
