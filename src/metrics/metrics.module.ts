import { DynamicModule, Global, Module } from '@nestjs/common';
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
@Module({})
export class MetricsModule {
  static forRoot(options: MetricsOptions): DynamicModule {
    return {
      module: MetricsModule,
      providers: [{ provide: METRICS_OPTIONS, useValue: options }, AgentCoreMetrics],
      controllers: [MetricsController],
      exports: [AgentCoreMetrics],
    };
  }
}
