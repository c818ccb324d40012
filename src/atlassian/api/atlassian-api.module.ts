import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AtlassianApiPauseEntity } from '../../database/entities';
import { AtlassianModule } from '../atlassian.module';
import { ATLASSIAN_OAUTH_SETTINGS, AtlassianOauthSettings } from '../client/atlassian-oauth-client.options';
import { AtlassianOauthTokensModule } from '../tokens/atlassian-oauth-tokens.module';
import { ATLASSIAN_API_CLIENT_OPTIONS, atlassianApiClientOptions } from './atlassian-api.options';
import { AtlassianApiClient } from './atlassian-api-client';
import { ATLASSIAN_API_CLOUD_IDS, AtlassianApiCloudIds } from './atlassian-api-cloud-ids';
import { AtlassianApiPauseRepo } from './atlassian-api-pause.repo';
import { AtlassianApiPauses } from './atlassian-api-pauses';
import { AtlassianSitesService } from './atlassian-sites.service';
import { AtlassianSiteRepo } from './atlassian-site.repo';
import { CachedCloudIds } from './cached-cloud-ids';

/** A call's `site` (a cloudId, a site URL, or none for the only site) resolved by {@link AtlassianSitesService.site}, reused for a few seconds. */
function cloudIdsOf(sites: AtlassianSitesService, repo: AtlassianSiteRepo): AtlassianApiCloudIds {
  return new CachedCloudIds(sites, repo);
}

/**
 * Calling Atlassian's REST APIs for a tenant: {@link AtlassianSitesService} (which sites a grant
 * reaches, and the cloud id of the one a call goes to) and {@link AtlassianApiClient} (one call,
 * with refusals, rate limits and the fleet's pauses handled). Import it beside
 * `AtlassianOauthTokensModule` (it re-exports it) and a TypeORM connection that knows agent-core's
 * entities. It needs what that module needs (`ATLASSIAN_CLIENT_ID`, `ATLASSIAN_CLIENT_SECRET`) and
 * reads `ATLASSIAN_API_BASE_URL` (default `https://api.atlassian.com`, https or a loopback http URL
 * only: it refuses to boot otherwise, naming the variable) and
 * `ATLASSIAN_API_MAX_CONCURRENCY_PER_TENANT` (default 4), both validated when the configuration loads.
 */
@Module({
  imports: [AtlassianModule, AtlassianOauthTokensModule, TypeOrmModule.forFeature([AtlassianApiPauseEntity])],
  providers: [
    AtlassianSitesService,
    {
      provide: ATLASSIAN_API_CLIENT_OPTIONS,
      useFactory: (settings: AtlassianOauthSettings) => atlassianApiClientOptions(settings),
      inject: [ATLASSIAN_OAUTH_SETTINGS],
    },
    { provide: ATLASSIAN_API_CLOUD_IDS, useFactory: cloudIdsOf, inject: [AtlassianSitesService, AtlassianSiteRepo] },
    AtlassianApiPauseRepo,
    AtlassianApiPauses,
    AtlassianApiClient,
  ],
  exports: [AtlassianSitesService, AtlassianApiClient, AtlassianOauthTokensModule],
})
export class AtlassianApiModule {}
