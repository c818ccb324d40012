import { TestingModuleBuilder } from '@nestjs/testing';
import { AtlassianConfig, readAtlassianConfig } from '../../src/config/atlassian.config';
import { AgentCoreConfig, CONFIG_NAMESPACES, loadConfig } from '../../src/config/config';
import { Environment } from '../../src/config/environment';

/**
 * The configuration of `env` alone, as the service would read it from an environment holding only
 * these variables (plus `NODE_ENV=test`, so no database path means `:memory:`). `process.env` is
 * never looked at.
 */
export function testConfig(env: Environment = {}): AgentCoreConfig {
  return loadConfig({ NODE_ENV: 'test', ...env });
}

/**
 * Makes the application that `builder` compiles use `config` instead of reading `process.env`:
 * every namespace provider of the configuration is overridden, so nothing in the application
 * reads the environment.
 */
export function withConfig(builder: TestingModuleBuilder, config: AgentCoreConfig): TestingModuleBuilder {
  return Object.entries(CONFIG_NAMESPACES).reduce(
    (overridden, [namespace, { KEY }]) =>
      overridden.overrideProvider(KEY).useValue(config[namespace as keyof AgentCoreConfig]),
    builder,
  );
}

/**
 * An `atlassian` configuration: the defaults of an empty environment with the values `settings`
 * gives over them (an `undefined` one keeps the default), for a test that hands the Atlassian
 * modules their settings (`ATLASSIAN_OAUTH_SETTINGS`) directly.
 */
export function atlassianSettings(settings: Partial<AtlassianConfig> = {}): AtlassianConfig {
  const given = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
  return { ...readAtlassianConfig({}), ...given };
}
