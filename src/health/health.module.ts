import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseHealthIndicator } from './database.health';
import { HealthController } from './health.controller';

/** `GET /health/live` and `GET /health/ready` through `@nestjs/terminus`; needs the app's TypeORM connection. */
@Module({
  // Terminus would log every failed probe; DatabaseHealthIndicator logs when the database stops and starts answering.
  imports: [TerminusModule.forRoot({ logger: false })],
  providers: [DatabaseHealthIndicator],
  controllers: [HealthController],
})
export class HealthModule {}
