import { DynamicModule } from '@nestjs/common';
import { ConfigFactory, ConfigModule, registerAs } from '@nestjs/config';
import { AgentCoreConfig, CONFIG_NAMESPACES } from './config';

/**
 * Registers the configuration's namespaces (see {@link AgentCoreConfig}) with `@nestjs/config`,
 * globally, so every module injects the same validated objects (`@Inject(databaseConfig.KEY)`).
 *
 * `DatabaseModule` registers it, so an application that imports `DatabaseModule` is configured. An
 * application that brings its own TypeORM connection instead imports
 * `AgentCoreConfigModule.forEnvironment()` next to `AtlassianModule`. Register it once per
 * application: each registration reads its own copy.
 *
 * No `.env` file is read and `ConfigService` never falls back to `process.env`: the namespaces are
 * the configuration.
 */
export class AgentCoreConfigModule {
  /**
   * Reads `process.env` when the application boots, each namespace once; boot fails with the
   * namespace's error (`DatabaseConfigError`, `TokenEncryptionConfigError`) when it is unusable.
   */
  static forEnvironment(): Promise<DynamicModule> {
    return AgentCoreConfigModule.register(Object.values(CONFIG_NAMESPACES));
  }

  /** Serves `config`, already read by `loadConfig`, without looking at `process.env` again. */
  static forConfig(config: AgentCoreConfig): Promise<DynamicModule> {
    return AgentCoreConfigModule.register(
      Object.entries(config).map(([namespace, value]: [string, AgentCoreConfig[keyof AgentCoreConfig]]) =>
        registerAs(namespace, () => value),
      ),
    );
  }

  private static register(load: ConfigFactory[]): Promise<DynamicModule> {
    return ConfigModule.forRoot({
      isGlobal: true,
      ignoreEnvFile: true,
      validatePredefined: false,
      skipProcessEnv: true,
      load,
    });
  }
}
