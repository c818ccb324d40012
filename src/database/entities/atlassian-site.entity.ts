import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The table that holds {@link AtlassianSiteEntity}. */
export const ATLASSIAN_SITE_TABLE = 'atlassian_site';

/**
 * One Atlassian site (cloud) that the grant of a `(platform, tenantId)` reaches, as Atlassian's
 * `GET /oauth/token/accessible-resources` listed it for that platform when it was last read.
 * Every REST call of the grant goes to `https://api.atlassian.com/ex/<platform>/<cloudId>/...`.
 *
 * A key's rows are replaced as a whole by each read of `accessible-resources`, so a site that left
 * the grant is gone; deleting a key's state deletes its sites. It never holds a token.
 * The primary key makes `(platform, tenant_id, cloud_id)` unique.
 */
@Entity(ATLASSIAN_SITE_TABLE)
export class AtlassianSiteEntity {
  @PrimaryColumn({ type: 'varchar' })
  platform!: string;

  @PrimaryColumn({ type: 'varchar', name: 'tenant_id' })
  tenantId!: string;

  /** Atlassian's `id` of the site: the `cloudId` of `https://api.atlassian.com/ex/<platform>/<cloudId>/`. */
  @PrimaryColumn({ type: 'varchar', name: 'cloud_id' })
  cloudId!: string;

  /** The site's own address, e.g. `https://acme.atlassian.net` (https, as Atlassian gave it). */
  @Column({ type: 'text' })
  url!: string;

  /** The site's name, e.g. `acme`; empty when Atlassian gave none. */
  @Column({ type: 'text' })
  name!: string;

  /** The scopes Atlassian lists for this site, in its order. */
  @Column({ type: 'simple-json' })
  scopes!: string[];

  @Column({ type: 'text', name: 'avatar_url', nullable: true })
  avatarUrl!: string | null;

  /** When `accessible-resources` last listed the site for the key. */
  @Column({ type: 'datetime', name: 'updated_at' })
  updatedAt!: Date;
}
