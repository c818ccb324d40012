import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../database/entities';
import { AtlassianOauthStateRepo } from './atlassian-oauth-state.repo';

/**
 * The Atlassian integration: import it to inject {@link AtlassianOauthStateRepo}.
 *
 * It needs the TypeORM connection of `DatabaseModule` (or any `TypeOrmModule.forRoot` whose
 * entities include `AtlassianOauthStateEntity` and `AtlassianOauthRefreshLeaseEntity`) in the
 * importing application.
 */
@Module({
  imports: [TypeOrmModule.forFeature([AtlassianOauthStateEntity, AtlassianOauthRefreshLeaseEntity])],
  providers: [AtlassianOauthStateRepo],
  exports: [AtlassianOauthStateRepo],
})
export class AtlassianModule {}
