import { Module } from '@nestjs/common';
import { AtlassianModule } from '../atlassian.module';
import { AtlassianOauthTokensModule } from '../tokens/atlassian-oauth-tokens.module';
import { AtlassianSitesService } from './atlassian-sites.service';

/**
 * Calling Atlassian's REST APIs for a tenant: {@link AtlassianSitesService} (which sites a grant
 * reaches, and the cloud id of the one a call goes to). Import it beside `AtlassianOauthTokensModule`
 * (it re-exports it). It needs what that module needs (`ATLASSIAN_CLIENT_ID`,
 * `ATLASSIAN_CLIENT_SECRET`) and reads `ATLASSIAN_API_BASE_URL` (default `https://api.atlassian.com`,
 * https or a loopback http URL only: it refuses to boot otherwise, naming the variable).
 */
@Module({
  imports: [AtlassianModule, AtlassianOauthTokensModule],
  providers: [AtlassianSitesService],
  exports: [AtlassianSitesService, AtlassianOauthTokensModule],
})
export class AtlassianApiModule {}
