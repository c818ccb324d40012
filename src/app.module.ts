import { Module } from '@nestjs/common';
import { AtlassianModule } from './atlassian';
import { DatabaseModule } from './database/database.module';

/** The agent-core service: its database and the Atlassian integration. */
@Module({
  imports: [DatabaseModule, AtlassianModule],
})
export class AppModule {}
