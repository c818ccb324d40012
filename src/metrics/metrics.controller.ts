import { Controller, Get, Header } from '@nestjs/common';
import { Registry } from 'prom-client';
import { AgentCoreMetrics } from './agent-core-metrics';

/** `GET /metrics`: every series of this application in Prometheus's text format, for scraping. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: AgentCoreMetrics) {}

  @Get()
  @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  async scrape(): Promise<string> {
    return this.metrics.render();
  }
}
