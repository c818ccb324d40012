import { MigrationInterface, QueryRunner } from 'typeorm';

/** Binds a consent to the browser that opened its start link on PostgreSQL: the SHA-256 of its cookie (null until then) and the scopes to ask for. */
export class AddAtlassianOauthConsentBrowser1796024000000 implements MigrationInterface {
  name = 'AddAtlassianOauthConsentBrowser1796024000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Consents in progress were started without a browser binding: they cannot finish any more.
    await queryRunner.query(`DELETE FROM "atlassian_oauth_consent_state"`);
    await queryRunner.query(`ALTER TABLE "atlassian_oauth_consent_state" ADD "scopes" text NOT NULL`);
    await queryRunner.query(`ALTER TABLE "atlassian_oauth_consent_state" ADD "browser_hash" character varying(64)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "atlassian_oauth_consent_state" DROP COLUMN "browser_hash"`);
    await queryRunner.query(`ALTER TABLE "atlassian_oauth_consent_state" DROP COLUMN "scopes"`);
  }
}
