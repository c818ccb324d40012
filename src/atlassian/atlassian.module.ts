import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DATABASE_OUTAGE_MONITOR_PROVIDER, DatabaseOutageMonitor } from '../database/database-outage.monitor';
import {
  AtlassianOauthRefreshHealthEntity,
  AtlassianOauthRefreshLeaseEntity,
  AtlassianOauthStateEntity,
  AtlassianSiteEntity,
} from '../database/entities';
import { TokenCipherModule } from '../token-cipher/token-cipher.module';
import { AtlassianOauthStateRepo } from './atlassian-oauth-state.repo';
import { AtlassianOauthSealedStateRepo } from './atlassian-oauth-sealed-state.repo';
import { AtlassianOauthTokenSealer } from './atlassian-oauth-token-sealer';
import { AtlassianOauthReencryptionService } from './reencryption/atlassian-oauth-reencryption.service';
import { AtlassianOauthRefreshLeaseRepo } from './atlassian-oauth-refresh-lease.repo';
import { AtlassianOauthRotationService } from './rotation/atlassian-oauth-rotation.service';
import { AtlassianOauthGrantHealthMetrics } from './tokens/atlassian-oauth-grant-health.metrics';
import { AtlassianOauthRefreshHealthRepo } from './atlassian-oauth-refresh-health.repo';
import { AtlassianSiteRepo } from './api/atlassian-site.repo';
import { AtlassianOauthEventPublisher } from './events/atlassian-oauth-event.publisher';

/**
 * The Atlassian integration: import it to inject {@link AtlassianOauthStateRepo} (the store),
 * {@link AtlassianOauthRotationService} (`rotate`: one refresh at a time, fleet-wide) and
 * {@link AtlassianOauthReencryptionService} (`reencryptAll`, after a key rotation), the
 * connection's {@link DatabaseOutageMonitor} (outages so far, the one in progress), and read every
 * key's refresh health ({@link AtlassianOauthRefreshHealthRepo}: no Atlassian credentials needed)
 * and its stored sites ({@link AtlassianSiteRepo}; `AtlassianApiModule` reads them from Atlassian).
 * The host hears of grant changes through `@nestjs/event-emitter` when its application registers
 * `EventEmitterModule.forRoot()` (see {@link AtlassianOauthEventPublisher}); without it nothing is emitted.
 *
 * It needs the TypeORM connection and configuration of `DatabaseModule` in the importing
 * application, or else any `TypeOrmModule.forRoot` whose entities include
 * `AtlassianOauthStateEntity`, `AtlassianOauthRefreshLeaseEntity`,
 * `AtlassianOauthRefreshHealthEntity` and `AtlassianSiteEntity` plus
 * `AgentCoreConfigModule.forEnvironment()`. Its `TokenCipherModule` seals the tokens with the
 * key ring of that configuration (`OAUTH_STATE_ENCRYPTION_KEYS`), whichever connection it is.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([
      AtlassianOauthStateEntity,
      AtlassianOauthRefreshLeaseEntity,
      AtlassianOauthRefreshHealthEntity,
      AtlassianSiteEntity,
    ]),
    TokenCipherModule,
  ],
  providers: [
    DATABASE_OUTAGE_MONITOR_PROVIDER,
    AtlassianOauthTokenSealer,
    AtlassianOauthStateRepo,
    AtlassianOauthSealedStateRepo,
    AtlassianOauthRefreshLeaseRepo,
    AtlassianOauthRotationService,
    AtlassianOauthReencryptionService,
    AtlassianOauthRefreshHealthRepo,
    AtlassianOauthGrantHealthMetrics,
    AtlassianSiteRepo,
    AtlassianOauthEventPublisher,
  ],
  exports: [
    AtlassianOauthEventPublisher,
    AtlassianOauthRefreshLeaseRepo,
    AtlassianOauthStateRepo,
    AtlassianOauthRotationService,
    AtlassianOauthReencryptionService,
    AtlassianOauthRefreshHealthRepo,
    AtlassianSiteRepo,
    DatabaseOutageMonitor,
  ],
})
export class AtlassianModule {}
