import { MigrationInterface, QueryRunner } from 'typeorm';

/** The sites each key's grant reaches on PostgreSQL (`accessible-resources`), one row per `(platform, tenant_id, cloud_id)`; no token. */
export class CreateAtlassianSite1796015000000 implements MigrationInterface {
  name = 'CreateAtlassianSite1796015000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "atlassian_site" ("platform" character varying(255) NOT NULL, "tenant_id" character varying(255) NOT NULL, "cloud_id" character varying(255) NOT NULL, "url" text NOT NULL, "name" text NOT NULL, "scopes" text NOT NULL, "avatar_url" text, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_08b92aa5b1dad4d9352fa748942" PRIMARY KEY ("platform", "tenant_id", "cloud_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "atlassian_site"`);
  }
}
