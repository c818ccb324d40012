import { Module } from '@nestjs/common';
import { AtlassianModule } from '../atlassian.module';
import { AtlassianOauthClientModule } from '../client/atlassian-oauth-client.module';
import { ATLASSIAN_OAUTH_SETTINGS, AtlassianOauthSettings } from '../client/atlassian-oauth-client.options';
import { AtlassianAccessibleResourcesClient } from './accessible-resources.client';
import { ATLASSIAN_API_OPTIONS, AtlassianApiOptions, atlassianApiOptions } from './atlassian-api.options';
import { AtlassianSiteSync } from './atlassian-site-sync';

/**
 * The `accessible-resources` client and {@link AtlassianSiteSync}, on `ATLASSIAN_API_BASE_URL`
 * (checked at boot: https, or http on a loopback host). Imported by `AtlassianOauthTokensModule`,
 * whose `connect` stores the sites, and through it by `AtlassianApiModule`.
 */
@Module({
  imports: [AtlassianModule, AtlassianOauthClientModule],
  providers: [
    {
      provide: ATLASSIAN_API_OPTIONS,
      useFactory: (settings: AtlassianOauthSettings) => atlassianApiOptions(settings),
      inject: [ATLASSIAN_OAUTH_SETTINGS],
    },
    {
      provide: AtlassianAccessibleResourcesClient,
      useFactory: (options: AtlassianApiOptions) => new AtlassianAccessibleResourcesClient(options),
      inject: [ATLASSIAN_API_OPTIONS],
    },
    AtlassianSiteSync,
  ],
  exports: [ATLASSIAN_API_OPTIONS, AtlassianAccessibleResourcesClient, AtlassianSiteSync],
})
export class AtlassianSiteSyncModule {}
