import { Module } from '@nestjs/common';
import { AtlassianModule } from '../atlassian.module';
import { AtlassianSiteSyncModule } from '../api/atlassian-site-sync.module';
import { AtlassianOauthClientModule } from '../client/atlassian-oauth-client.module';
import { AtlassianConfig } from '../../config/atlassian.config';
import { ATLASSIAN_OAUTH_SETTINGS } from '../client/atlassian-oauth-client.options';
import { atlassianOauthTokenOptions } from './atlassian-oauth-token.options';
import { ATLASSIAN_OAUTH_TOKEN_OPTIONS, AtlassianOauthTokenService } from './atlassian-oauth-token.service';

/**
 * Provides {@link AtlassianOauthTokenService} (and, through `AtlassianOauthClientModule`,
 * `AtlassianOauthClient`): import it, next to a TypeORM connection that knows agent-core's
 * entities, where access tokens are needed. Like the client's module it refuses to boot without
 * `ATLASSIAN_CLIENT_ID` / `ATLASSIAN_CLIENT_SECRET` (or with an `ATLASSIAN_API_BASE_URL` that is
 * not https), naming the variable; a service that only
 * stores tokens imports `AtlassianModule` alone and needs neither.
 */
@Module({
  imports: [AtlassianModule, AtlassianOauthClientModule, AtlassianSiteSyncModule],
  providers: [
    AtlassianOauthTokenService,
    {
      provide: ATLASSIAN_OAUTH_TOKEN_OPTIONS,
      useFactory: (settings: AtlassianConfig) => atlassianOauthTokenOptions(settings),
      inject: [ATLASSIAN_OAUTH_SETTINGS],
    },
  ],
  exports: [AtlassianOauthTokenService, AtlassianOauthClientModule, AtlassianSiteSyncModule],
})
export class AtlassianOauthTokensModule {}
