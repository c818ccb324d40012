import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Post,
  Query,
  Redirect,
  UseGuards,
} from '@nestjs/common';
import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthConsentService } from './atlassian-oauth-consent.service';
import { InternalTokenGuard } from './internal-token.guard';

/**
 * The consent flow over HTTP.
 *
 * - `POST /atlassian/authorizations` (internal, bearer token): `{ platform, tenantId, scopes,
 *   returnTo }` → `201 { url }`, the Atlassian authorization URL to send the customer's browser
 *   to; 400 `{ field, message }` naming the bad field in a sentence; 401 without the right token.
 * - `GET /atlassian/callback` (public: the redirect URI registered with Atlassian): 303 to
 *   `returnTo?status=connected`, or `returnTo?status=error&reason=<kind>`; 400 when `state` is
 *   unknown, expired or already used, since then there is nowhere trusted to send the browser.
 */
@Controller('atlassian')
export class AtlassianOauthConsentController {
  constructor(private readonly consents: AtlassianOauthConsentService) {}

  @Post('authorizations')
  @HttpCode(201)
  @UseGuards(InternalTokenGuard)
  @Header('Cache-Control', 'no-store')
  async authorize(@Body() body: unknown): Promise<{ url: string }> {
    try {
      return { url: (await this.consents.start(body)).href };
    } catch (error) {
      if (error instanceof AtlassianOauthStateValidationError) {
        // A sentence for the developer reading the answer, and the field for their code.
        throw new BadRequestException({
          statusCode: 400,
          error: 'Bad Request',
          field: error.field,
          message: `Cannot start the consent: ${error.field} ${error.requirement}.`,
        });
      }
      throw error;
    }
  }

  @Get('callback')
  @Redirect()
  // The callback URL carries the code: no cache keeps it, no referrer passes it on.
  @Header('Cache-Control', 'no-store')
  @Header('Referrer-Policy', 'no-referrer')
  async callback(@Query() query: Record<string, unknown>): Promise<{ url: string; statusCode: number }> {
    const outcome = await this.consents.complete(query);
    if ('refused' in outcome) {
      throw new BadRequestException(
        outcome.refused === 'expired'
          ? 'This consent link has expired. Start the connection again from the application.'
          : 'This consent link is not valid or was already used. Start the connection again from the application.',
      );
    }
    return { url: outcome.redirectTo, statusCode: 303 };
  }
}
