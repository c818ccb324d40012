import 'reflect-metadata';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AtlassianOauthStateRepo } from './atlassian';
import { AtlassianOauthConsentOptions, CONSENT_OPTIONS } from './atlassian/consent/atlassian-oauth-consent.options';
import { BootLogger, reportBootFailure } from './boot-logger';
import { loadConfig } from './config/config';
import { DEFAULT_LOGGING, LoggingConfig, readLoggingConfig } from './config/logging.config';
import { HttpServerModule } from './http/http-server.module';

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Boots agent-core on its configured database and serves HTTP on `PORT` until SIGINT or SIGTERM.
 * Then it stops accepting connections, lets the requests in flight finish, closes the database
 * and exits 0.
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
  });
  app.disable('x-powered-by');
  const states = await app.get(AtlassianOauthStateRepo).count();
  logger.log(`Database ${config.database.location} holds ${states} Atlassian OAuth state(s)`);

  // Not app.enableShutdownHooks(): Nest would re-raise the signal after closing, so the process
  // would end by the signal instead of exiting 0. app.close() does the same work in the right
  // order: the HTTP server stops accepting and waits for the requests in flight, and only then
  // do the shutdown hooks close the database.
  for (const signal of SHUTDOWN_SIGNALS) {
    process.once(signal, () => {
      logger.log(`${signal} received: finishing the requests in flight, then closing the database`);
      // server.close() closes the connections that are idle when it is called; one that finishes
      // its request later would stay open until its keep-alive timeout. Close those as they idle.
      const server: Server = app.getHttpServer();
      setInterval(() => server.closeIdleConnections(), 50).unref();
      app.close().then(
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
  await app.listen(config.http.port);
  const { port } = app.getHttpServer().address() as AddressInfo;
  logger.log(`HTTP server listening on port ${port}`);
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
