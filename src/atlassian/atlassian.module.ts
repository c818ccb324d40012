import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AtlassianOauthRefreshLeaseEntity, AtlassianOauthStateEntity } from '../database/entities';
import { TokenCipherModule } from '../database/token-cipher.module';
import { AtlassianOauthStateRepo } from './atlassian-oauth-state.repo';

/**
 * The Atlassian integration: import it to inject {@link AtlassianOauthStateRepo}.
 *
 * It needs the TypeORM connection of `DatabaseModule` (or any `TypeOrmModule.forRoot` whose
 * entities include `AtlassianOauthStateEntity` and `AtlassianOauthRefreshLeaseEntity`) in the
 * importing application. It brings its own `TokenCipherModule`, so the tokens are sealed with
 * `OAUTH_STATE_ENCRYPTION_KEYS` whichever connection that is.
 */
@Module({
  imports: [TypeOrmModule.forFeature([AtlassianOauthStateEntity, AtlassianOauthRefreshLeaseEntity]), TokenCipherModule],
  providers: [AtlassianOauthStateRepo],
  exports: [AtlassianOauthStateRepo],
})
export class AtlassianModule {}
