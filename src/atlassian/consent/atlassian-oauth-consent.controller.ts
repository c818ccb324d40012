import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Inject,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { IncomingMessage, ServerResponse } from 'node:http';
import { AtlassianOauthStateValidationError } from '../atlassian-oauth-state.errors';
import { AtlassianOauthConsentOptions, CONSENT_OPTIONS } from './atlassian-oauth-consent.options';
import { AtlassianOauthConsentService, ConsentCookie } from './atlassian-oauth-consent.service';
import { ConsentRefusal, REFUSAL_PAGE_CSP, refusalMessage, refusalPage } from './consent-refusal-page';
import { InternalTokenGuard } from './internal-token.guard';

/**
 * The consent flow over HTTP.
 *
 * - `POST /atlassian/authorizations` (internal, bearer token): `{ platform, tenantId, scopes,
 *   returnTo }` → `201 { url, expiresAt }`, the start link on agent-core itself
 *   (`AGENT_CORE_PUBLIC_URL/atlassian/authorize?flow=...`) to send the customer's browser to;
 *   400 `{ field, message }` naming the bad field in a sentence; 401 without the right token.
 * - `GET /atlassian/authorize?flow=...` (public): the first browser gets the consent cookie
 *   (`HttpOnly`, `SameSite=Lax`, `Secure` unless the public URL is http on a loopback host, its
 *   path the callback's) and a 303 to Atlassian; any later one, or an expired link, is refused.
 * - `GET /atlassian/callback` (public: the redirect URI registered with Atlassian): in the browser
 *   holding the cookie, 303 to `returnTo?status=connected`, or `returnTo?status=error&reason=<kind>`;
 *   otherwise refused, since then there is nowhere trusted to send the browser.
 *
 * A refusal is 400 with a small HTML page saying what happened and what to do (no script, no
 * external resource), or `{ statusCode, error, message }` for a client whose `Accept` prefers JSON.
 */
@Controller('atlassian')
export class AtlassianOauthConsentController {
  constructor(
    private readonly consents: AtlassianOauthConsentService,
    @Inject(CONSENT_OPTIONS) private readonly options: AtlassianOauthConsentOptions,
  ) {}

  @Post('authorizations')
  @HttpCode(201)
  @UseGuards(InternalTokenGuard)
  @Header('Cache-Control', 'no-store')
  async startConsent(@Body() body: unknown): Promise<{ url: string; expiresAt: string }> {
    try {
      const { url, expiresAt } = await this.consents.start(body);
      return { url: url.href, expiresAt: expiresAt.toISOString() };
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

  @Get('authorize')
  async open(
    @Query('flow') flow: unknown,
    @Req() request: IncomingMessage,
    @Res() response: ServerResponse,
  ): Promise<void> {
    noStore(response);
    const outcome = await this.consents.open(flow);
    if ('refused' in outcome) {
      refuse(request, response, outcome.refused);
      return;
    }
    this.setCookie(response, outcome.cookie);
    redirect(response, outcome.redirectTo);
  }

  @Get('callback')
  async callback(
    @Query() query: Record<string, unknown>,
    @Req() request: IncomingMessage,
    @Res() response: ServerResponse,
  ): Promise<void> {
    noStore(response);
    const outcome = await this.consents.complete(query, parseCookies(request.headers.cookie));
    if ('refused' in outcome) {
      refuse(request, response, outcome.refused);
      return;
    }
    this.setCookie(response, outcome.cookie);
    redirect(response, outcome.redirectTo);
  }

  /** RFC 6265 section 4.1; the name and value are base64url and hex, the path a URL's: nothing to escape. */
  private setCookie(response: ServerResponse, cookie: ConsentCookie): void {
    response.setHeader(
      'Set-Cookie',
      [
        `${cookie.name}=${cookie.value}`,
        `Path=${this.options.cookiePath}`,
        `Max-Age=${cookie.maxAgeSeconds}`,
        'HttpOnly',
        ...(this.options.secureCookie ? ['Secure'] : []),
        'SameSite=Lax',
      ].join('; '),
    );
  }
}

/** The public URLs carry the flow, the state or the code: no cache keeps them, no referrer passes them on. */
function noStore(response: ServerResponse): void {
  response.setHeader('Cache-Control', 'no-store');
  response.setHeader('Referrer-Policy', 'no-referrer');
}

function redirect(response: ServerResponse, location: string): void {
  response.statusCode = 303;
  response.setHeader('Location', location);
  response.end();
}

function refuse(request: IncomingMessage, response: ServerResponse, refusal: ConsentRefusal): void {
  response.statusCode = 400;
  if (prefersJson(request.headers.accept)) {
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.end(JSON.stringify({ statusCode: 400, error: 'Bad Request', message: refusalMessage(refusal) }));
    return;
  }
  response.setHeader('Content-Type', 'text/html; charset=utf-8');
  response.setHeader('Content-Security-Policy', REFUSAL_PAGE_CSP);
  response.end(refusalPage(refusal));
}

/**
 * Whether a client asked for JSON: its `Accept` names a JSON type and not HTML. A browser always
 * names `text/html`; `fetch` without an `Accept` sends `*\/*`, and gets the page.
 */
export function prefersJson(accept: string | undefined): boolean {
  const types = (accept ?? '').split(',').map((part) => part.split(';')[0]!.trim().toLowerCase());
  return types.some((type) => type === 'application/json' || type.endsWith('+json')) && !types.includes('text/html');
}

/** The `Cookie` header's pairs by name (RFC 6265 section 5.4); a malformed pair is skipped. */
export function parseCookies(header: string | undefined): Record<string, string> {
  // No prototype: a cookie named __proto__ is just a name.
  const cookies = Object.create(null) as Record<string, string>;
  for (const pair of (header ?? '').split(';').map((part) => part.trim())) {
    const separator = pair.indexOf('=');
    if (separator > 0) {
      const name = pair.slice(0, separator).trim();
      if (!(name in cookies)) {
        cookies[name] = pair.slice(separator + 1).trim();
      }
    }
  }
  return cookies;
}
