import { DynamicModule, Module } from '@nestjs/common';
import { AtlassianModule } from './atlassian';
import { AgentCoreConfig } from './config/config';
import { DatabaseModule } from './database/database.module';

/** The agent-core service: its configuration (read from `process.env` at boot), its database and the Atlassian integration. */
@Module({
  imports: [DatabaseModule, AtlassianModule],
})
export class AppModule {
  /**
   * The same service on a configuration the caller already read with `loadConfig`, which is then
   * the only configuration it uses (the CLI checks it before it opens the database).
   */
  static forConfig(config: AgentCoreConfig): DynamicModule {
    return { module: ConfiguredAppModule, imports: [DatabaseModule.forConfig(config), AtlassianModule] };
  }
}

/** {@link AppModule.forConfig}'s module: a class of its own, since Nest adds a class's static imports to its dynamic ones. */
@Module({})
class ConfiguredAppModule {}
