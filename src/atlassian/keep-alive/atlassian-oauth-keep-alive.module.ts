import { Module } from '@nestjs/common';
import { AtlassianModule } from '../atlassian.module';
import { AtlassianOauthTokensModule } from '../tokens/atlassian-oauth-tokens.module';
import { AtlassianOauthKeepAliveService } from './atlassian-oauth-keep-alive.service';

/**
 * Provides {@link AtlassianOauthKeepAliveService} (the sweep, run on demand: the CLI's
 * `keep-alive`) and re-exports `AtlassianOauthTokensModule`. Like it, it needs the Atlassian client's
 * credentials at boot. The schedule is `AtlassianOauthKeepAliveScheduleModule`, which only the
 * service imports.
 */
@Module({
  imports: [AtlassianModule, AtlassianOauthTokensModule],
  providers: [AtlassianOauthKeepAliveService],
  exports: [AtlassianOauthKeepAliveService, AtlassianOauthTokensModule],
})
export class AtlassianOauthKeepAliveModule {}
