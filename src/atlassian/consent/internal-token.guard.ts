import { createHash, timingSafeEqual } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { CanActivate, ExecutionContext, Inject, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { AtlassianOauthConsentOptions, CONSENT_OPTIONS } from './atlassian-oauth-consent.options';

/**
 * Admits a request only with `Authorization: Bearer <AGENT_CORE_INTERNAL_TOKEN>`; 401 otherwise.
 *
 * The comparison is constant-time over SHA-256 digests of both values, so neither the content nor
 * the length of the configured token leaks through response timing. A refusal is logged without
 * what was presented.
 */
@Injectable()
export class InternalTokenGuard implements CanActivate {
  private readonly logger = new Logger(InternalTokenGuard.name);
  private readonly expected: Buffer;

  constructor(@Inject(CONSENT_OPTIONS) options: AtlassianOauthConsentOptions) {
    this.expected = digest(options.internalToken);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<IncomingMessage>();
    const presented = bearerToken(request.headers.authorization, this.expected);
    if (presented !== 'valid') {
      this.logger.warn(
        `Refused ${request.method ?? ''} ${request.url?.split('?')[0] ?? ''}: ${presented} bearer token`,
      );
      context.switchToHttp().getResponse<ServerResponse>().setHeader('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException('A valid internal bearer token is required');
    }
    return true;
  }
}

/** The SHA-256 digest a bearer token is compared by. */
export function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Whether the `Authorization` header holds the bearer token whose {@link digest} is `expected`:
 * compared in constant time over the digests, so neither content nor length leaks.
 */
export function bearerToken(authorization: string | undefined, expected: Buffer): 'valid' | 'wrong' | 'no' {
  const match = /^Bearer (\S+)$/.exec(authorization ?? '');
  if (!match?.[1]) {
    return 'no';
  }
  return timingSafeEqual(digest(match[1]), expected) ? 'valid' : 'wrong';
}
