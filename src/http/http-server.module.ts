import { DynamicModule, Module } from '@nestjs/common';
import { AppModule } from '../app.module';
import { AtlassianOauthConsentModule } from '../atlassian/consent/atlassian-oauth-consent.module';
import { HealthModule } from '../health/health.module';
import { MetricsModule } from '../metrics/metrics.module';
import { HttpOptions } from './http.options';

/**
 * What `npm start` serves over HTTP: the whole service ({@link AppModule}) plus its probes and
 * metrics, and the consent flow when `AGENT_CORE_INTERNAL_TOKEN` is set (it then also needs the
 * Atlassian client and the consent settings, or boot fails naming the variable). The CLI boots
 * `AppModule` alone, so none of the HTTP settings can stop a CLI command.
 */
@Module({})
export class HttpServerModule {
  static forRoot(options: HttpOptions): DynamicModule {
    return {
      module: HttpServerModule,
      imports: [
        AppModule,
        MetricsModule.forRoot({ tenantLabels: options.metricsTenantLabels }),
        HealthModule,
        ...(options.internalToken === undefined ? [] : [AtlassianOauthConsentModule.forRoot(options)]),
      ],
    };
  }
}
