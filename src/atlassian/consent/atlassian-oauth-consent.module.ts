import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AtlassianOauthConsentStateEntity } from '../../database/entities';
import { HttpOptions } from '../../http/http.options';
import { AtlassianOauthTokensModule } from '../tokens/atlassian-oauth-tokens.module';
import { AtlassianOauthConsentStateRepo } from './atlassian-oauth-consent-state.repo';
import { AtlassianOauthConsentController } from './atlassian-oauth-consent.controller';
import { CONSENT_OPTIONS, consentOptions } from './atlassian-oauth-consent.options';
import { AtlassianOauthConsentService } from './atlassian-oauth-consent.service';
import { InternalTokenGuard } from './internal-token.guard';

/**
 * The customer's consent over HTTP: `POST /atlassian/authorizations` and `GET /atlassian/callback`.
 *
 * A module of its own, imported only by a service that serves the flow: it needs the Atlassian
 * client's credentials and the consent settings, and {@link forRoot} refuses to boot, naming the
 * variable, when one is missing.
 */
@Module({})
export class AtlassianOauthConsentModule {
  static forRoot(http: HttpOptions): DynamicModule {
    return {
      module: AtlassianOauthConsentModule,
      imports: [AtlassianOauthTokensModule, TypeOrmModule.forFeature([AtlassianOauthConsentStateEntity])],
      providers: [
        { provide: CONSENT_OPTIONS, useValue: consentOptions(http) },
        AtlassianOauthConsentStateRepo,
        AtlassianOauthConsentService,
        InternalTokenGuard,
      ],
      controllers: [AtlassianOauthConsentController],
    };
  }
}
