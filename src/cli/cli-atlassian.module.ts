import { DynamicModule, Module } from '@nestjs/common';
import { AppModule } from '../app.module';
import { AtlassianApiModule, AtlassianOauthKeepAliveModule } from '../atlassian';
import { AgentCoreConfig } from '../config/config';

/**
 * What the CLI boots for a command that talks to Atlassian (`keep-alive`, `connect`, `sites --refresh`):
 * the service's `AppModule` plus the client, the token service, the sites service and the keep-alive
 * sweep, without its schedule.
 * It needs `ATLASSIAN_CLIENT_ID` and `ATLASSIAN_CLIENT_SECRET`; every other command boots
 * `AppModule` alone and needs neither.
 */
@Module({})
export class CliAtlassianModule {
  static forConfig(config: AgentCoreConfig): DynamicModule {
    return {
      module: CliAtlassianModule,
      imports: [AppModule.forConfig(config), AtlassianOauthKeepAliveModule, AtlassianApiModule],
    };
  }
}
