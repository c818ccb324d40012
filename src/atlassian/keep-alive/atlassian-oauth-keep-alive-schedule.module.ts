import { DynamicModule, Module } from '@nestjs/common';
import { AtlassianOauthClientModule } from '../client/atlassian-oauth-client.module';
import { AtlassianConfig } from '../../config/atlassian.config';
import { ATLASSIAN_OAUTH_SETTINGS } from '../client/atlassian-oauth-client.options';
import { AtlassianOauthKeepAliveModule } from './atlassian-oauth-keep-alive.module';
import {
  ATLASSIAN_OAUTH_KEEP_ALIVE_SCHEDULE_OPTIONS,
  atlassianClientConfigured,
  atlassianOauthKeepAliveScheduleOptions,
} from './atlassian-oauth-keep-alive.options';
import { AtlassianOauthKeepAliveSchedule } from './atlassian-oauth-keep-alive.schedule';

/**
 * The scheduled keep-alive sweep of a running service (`ATLASSIAN_KEEPALIVE_INTERVAL_MS`, default
 * once a day, `0` off). Import it where the service runs, not in a CLI or a test that boots the
 * application for one job.
 */
@Module({
  imports: [AtlassianOauthKeepAliveModule, AtlassianOauthClientModule],
  providers: [
    AtlassianOauthKeepAliveSchedule,
    {
      provide: ATLASSIAN_OAUTH_KEEP_ALIVE_SCHEDULE_OPTIONS,
      useFactory: atlassianOauthKeepAliveScheduleOptions,
      inject: [ATLASSIAN_OAUTH_SETTINGS],
    },
  ],
})
export class AtlassianOauthKeepAliveScheduleModule {
  /**
   * This module when the Atlassian client is configured (`ATLASSIAN_CLIENT_ID` or
   * `ATLASSIAN_CLIENT_SECRET` set), otherwise an empty module: a service that only stores tokens
   * has no grant to keep alive and must keep booting without Atlassian credentials.
   */
  static whenConfigured(settings: AtlassianConfig): DynamicModule {
    return atlassianClientConfigured(settings)
      ? { module: AtlassianOauthKeepAliveScheduleModule }
      : { module: KeepAliveOff };
  }
}

/** What {@link AtlassianOauthKeepAliveScheduleModule.whenConfigured} imports without a configured client. */
@Module({})
class KeepAliveOff {}
