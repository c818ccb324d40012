import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { AtlassianOauthStateRepo } from './atlassian';
import { DatabaseConfig, databaseConfig } from './config/database.config';

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Boots agent-core on its configured database and keeps running until SIGINT or SIGTERM, which
 * close the database and exit 0.
 */
async function bootstrap(): Promise<void> {
  const logger = new Logger('agent-core');
  // abortOnError: false hands a boot failure (e.g. TokenEncryptionConfigError) to the catch below,
  // which logs its message and exits 1, instead of Nest exiting from inside its exception zone.
  const app = await NestFactory.createApplicationContext(AppModule, {
    logger: ['log', 'warn', 'error'],
    abortOnError: false,
  });
  const states = await app.get(AtlassianOauthStateRepo).count();
  const { location } = app.get<DatabaseConfig>(databaseConfig.KEY);
  logger.log(`Database ${location} holds ${states} Atlassian OAuth state(s)`);

  // An application context has no server of its own to keep the event loop alive.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  for (const signal of SHUTDOWN_SIGNALS) {
    process.once(signal, () => {
      clearInterval(keepAlive);
      logger.log(`${signal} received: closing the database`);
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        },
      );
    });
  }
  logger.log('agent-core is running; stop it with Ctrl+C (SIGINT) or SIGTERM');
}

bootstrap().catch((error: unknown) => {
  new Logger('agent-core').error(`Boot failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
