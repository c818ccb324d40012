import { Global, Module } from '@nestjs/common';
import { HttpConfig, httpConfig } from '../config/http.config';
import { AgentCoreMetrics, METRICS_OPTIONS, MetricsOptions } from './agent-core-metrics';
import { MetricsController } from './metrics.controller';

/**
 * The application's Prometheus metrics and `GET /metrics`, labelled as the `http` configuration
 * says (`METRICS_TENANT_LABELS`).
 *
 * Global, so that the stores and services that report (they take {@link AgentCoreMetrics} as an
 * optional dependency) find it without importing this module; an application without it, such as
 * the CLI or a consumer that imports only `AtlassianModule`, runs the same code unmeasured.
 */
@Global()
@Module({
  providers: [
    {
      provide: METRICS_OPTIONS,
      useFactory: (http: HttpConfig): MetricsOptions => ({ tenantLabels: http.metricsTenantLabels }),
      inject: [httpConfig.KEY],
    },
    AgentCoreMetrics,
  ],
  controllers: [MetricsController],
  exports: [AgentCoreMetrics],
})
export class MetricsModule {}
