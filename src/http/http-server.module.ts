import { DynamicModule, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AppModule } from '../app.module';
import { AtlassianOauthConsentModule } from '../atlassian/consent/atlassian-oauth-consent.module';
import { AtlassianOauthKeepAliveScheduleModule } from '../atlassian/keep-alive/atlassian-oauth-keep-alive-schedule.module';
import { AgentCoreConfig } from '../config/config';
import { HealthModule } from '../health/health.module';
import { MetricsModule } from '../metrics/metrics.module';

/**
 * What `npm start` serves over HTTP: the whole service ({@link AppModule}) on a configuration read
 * once, plus its probes and metrics, and the consent flow when `AGENT_CORE_INTERNAL_TOKEN` is set
 * (it then also needs the Atlassian client and the consent settings, or boot fails naming the
 * variable), the event emitter of `ATLASSIAN_EVENTS`, and the keep-alive sweep's schedule when the Atlassian client is configured. The CLI boots `AppModule` alone, so the HTTP server's needs never stop a CLI command.
 */
@Module({})
export class HttpServerModule {
  static forConfig(config: AgentCoreConfig): DynamicModule {
    return {
      module: HttpServerModule,
      imports: [
        // The host's @OnEvent listeners hear ATLASSIAN_EVENTS through it (grant connected, revoked, ...).
        EventEmitterModule.forRoot(),
        AppModule.forConfig(config),
        MetricsModule,
        HealthModule,
        ...(config.http.internalToken === undefined ? [] : [AtlassianOauthConsentModule]),
        AtlassianOauthKeepAliveScheduleModule.whenConfigured(config.atlassian),
      ],
    };
  }
}
