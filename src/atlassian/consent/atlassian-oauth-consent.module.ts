import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AtlassianConfig, atlassianConfig } from '../../config/atlassian.config';
import { HttpConfig, httpConfig } from '../../config/http.config';
import { AtlassianOauthConsentStateEntity } from '../../database/entities';
import { AtlassianModule } from '../atlassian.module';
import { AtlassianOauthTokensModule } from '../tokens/atlassian-oauth-tokens.module';
import { AtlassianOauthConsentStateRepo } from './atlassian-oauth-consent-state.repo';
import { AtlassianOauthConsentController } from './atlassian-oauth-consent.controller';
import { CONSENT_OPTIONS, consentOptions } from './atlassian-oauth-consent.options';
import { AtlassianOauthConsentService } from './atlassian-oauth-consent.service';
import { InternalTokenGuard } from './internal-token.guard';

/**
 * The customer's consent over HTTP: `POST /atlassian/authorizations`, `GET /atlassian/authorize`
 * and `GET /atlassian/callback`.
 *
 * A module of its own, imported only by a service that serves the flow: it needs the Atlassian
 * client's credentials and the consent settings of the `http` configuration, and refuses to boot,
 * naming the variable, when one is missing.
 */
@Module({
  imports: [AtlassianModule, AtlassianOauthTokensModule, TypeOrmModule.forFeature([AtlassianOauthConsentStateEntity])],
  providers: [
    {
      provide: CONSENT_OPTIONS,
      useFactory: (http: HttpConfig, atlassian: AtlassianConfig) => consentOptions(http, atlassian),
      inject: [httpConfig.KEY, atlassianConfig.KEY],
    },
    AtlassianOauthConsentStateRepo,
    AtlassianOauthConsentService,
    InternalTokenGuard,
  ],
  controllers: [AtlassianOauthConsentController],
})
export class AtlassianOauthConsentModule {}
