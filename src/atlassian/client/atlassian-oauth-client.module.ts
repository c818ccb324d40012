import { Module } from '@nestjs/common';
import { AtlassianConfig, atlassianConfig } from '../../config/atlassian.config';
import { AtlassianOauthClient } from './atlassian-oauth-client';
import { ATLASSIAN_OAUTH_SETTINGS, atlassianOauthClientOptions } from './atlassian-oauth-client.options';

/**
 * Provides {@link AtlassianOauthClient}, configured by the application's `atlassian`
 * configuration (registered by `DatabaseModule`). Import it only where Atlassian's token endpoint is called:
 * it refuses to boot (with `AtlassianOauthClientConfigError` naming the variable) when
 * `ATLASSIAN_CLIENT_ID` or `ATLASSIAN_CLIENT_SECRET` is missing (the endpoint URLs were checked when
 * the configuration loaded).
 *
 * It is a module of its own, not part of `AtlassianModule`, because Nest builds every provider of
 * an imported module at boot whether anyone injects it or not: a service or the CLI that only
 * stores tokens must keep booting without Atlassian credentials, and a service that does call
 * Atlassian must fail at boot, not at its first refresh.
 */
@Module({
  providers: [
    {
      provide: ATLASSIAN_OAUTH_SETTINGS,
      useExisting: atlassianConfig.KEY,
    },
    {
      provide: AtlassianOauthClient,
      useFactory: (config: AtlassianConfig) => new AtlassianOauthClient(atlassianOauthClientOptions(config)),
      inject: [ATLASSIAN_OAUTH_SETTINGS],
    },
  ],
  exports: [AtlassianOauthClient, ATLASSIAN_OAUTH_SETTINGS],
})
export class AtlassianOauthClientModule {}
