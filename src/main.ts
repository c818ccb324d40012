import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AtlassianOauthStateRepo } from './atlassian';
import { AtlassianOauthConsentOptions, CONSENT_OPTIONS } from './atlassian/consent/atlassian-oauth-consent.options';
import { BootLogger, reportBootFailure } from './boot-logger';
import { loadConfig } from './config/config';
import { DEFAULT_LOGGING, LoggingConfig, readLoggingConfig } from './config/logging.config';
import { configureHttp, HttpListeners, listenTwice } from './http/http-listeners';
import { HttpServerModule } from './http/http-server.module';

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Boots agent-core on its configured database and serves HTTP until SIGINT or SIGTERM: the public
 * listener on `PORT` (the consent pages a browser opens) and the internal one on
 * `INTERNAL_HOST:INTERNAL_PORT` (`POST /atlassian/authorizations`, probes, metrics). Then it stops
 * accepting connections, lets the requests in flight finish, closes the database and exits 0.
 */
async function bootstrap(logging: LoggingConfig): Promise<void> {
  const logger = new Logger('agent-core');
  // Read once: the application runs on this very object, and main.ts decides from it what to serve.
  const config = loadConfig();
  // abortOnError: false hands a boot failure (e.g. TokenEncryptionConfigError) to the catch below,
  // which logs its message and exits 1, instead of Nest exiting from inside its exception zone.
  const app = await NestFactory.create<NestExpressApplication>(HttpServerModule.forConfig(config), {
    logger: new BootLogger(logging),
    abortOnError: false,
    // configureHttp parses the one body the service takes, after its bearer token was checked.
    bodyParser: false,
  });
  app.disable('x-powered-by');
  configureHttp(app, config.http);
  const states = await app.get(AtlassianOauthStateRepo).count();
  logger.log(`Database ${config.database.location} holds ${states} Atlassian OAuth state(s)`);

  // Not app.enableShutdownHooks(): Nest would re-raise the signal after closing, so the process
  // would end by the signal instead of exiting 0. Both listeners stop accepting and wait for the
  // requests in flight, and only then do the shutdown hooks close the database.
  const serving: { listeners?: HttpListeners } = {};
  for (const signal of SHUTDOWN_SIGNALS) {
    process.once(signal, () => {
      logger.log(`${signal} received: finishing the requests in flight, then closing the database`);
      (serving.listeners?.close() ?? Promise.resolve())
        .then(() => app.close())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
            process.exit(1);
          },
        );
    });
  }
  if (config.http.internalToken === undefined) {
    logger.log(
      'Consent flow off: set AGENT_CORE_INTERNAL_TOKEN (see docs/consent-and-http.md) to serve /atlassian/authorizations',
    );
  } else {
    // The URL as a browser reaches it, without any user or password it was written with.
    const callback = new URL(app.get<AtlassianOauthConsentOptions>(CONSENT_OPTIONS).redirectUri);
    callback.username = '';
    callback.password = '';
    logger.log(
      `Consent flow on: serving /atlassian/authorizations; Atlassian sends the customer back to ${callback.href} (the redirect URI to register)`,
    );
  }
  const listeners = await listenTwice(app, config.http);
  serving.listeners = listeners;
  logger.log(`HTTP server listening on port ${listeners.publicPort}`);
  logger.log(
    `Internal HTTP server listening on ${config.http.internalHost} port ${listeners.internalPort}: POST /atlassian/authorizations, /health/*, /metrics`,
  );
  logger.log('agent-core is running; stop it with Ctrl+C (SIGINT) or SIGTERM');
}

async function main(): Promise<void> {
  let logging = DEFAULT_LOGGING;
  try {
    logging = readLoggingConfig(process.env);
    await bootstrap(logging);
  } catch (error) {
    reportBootFailure(error, logging);
    process.exit(1);
  }
}

void main();
