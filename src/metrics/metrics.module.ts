import { Global, Module } from '@nestjs/common';
import { HttpOptions, HTTP_OPTIONS } from '../http/http.options';
import { HttpOptionsModule } from '../http/http-options.module';
import { AgentCoreMetrics, METRICS_OPTIONS, MetricsOptions } from './agent-core-metrics';
import { MetricsController } from './metrics.controller';

/**
 * The application's Prometheus metrics and `GET /metrics`.
 *
 * Global, so that the stores and services that report (they take {@link AgentCoreMetrics} as an
 * optional dependency) find it without importing this module; an application without it, such as
 * the CLI or a consumer that imports only `AtlassianModule`, runs the same code unmeasured.
 */
@Global()
@Module({
  imports: [HttpOptionsModule],
  providers: [
    {
      provide: METRICS_OPTIONS,
      useFactory: (options: HttpOptions): MetricsOptions => ({ tenantLabels: options.metricsTenantLabels }),
      inject: [HTTP_OPTIONS],
    },
    AgentCoreMetrics,
  ],
  controllers: [MetricsController],
  exports: [AgentCoreMetrics],
})
export class MetricsModule {}
