import { createHash, timingSafeEqual } from 'node:crypto';
import { IncomingMessage } from 'node:http';
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
    const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), this.expected)) {
      this.logger.warn(
        `Refused ${request.method ?? ''} ${request.url?.split('?')[0] ?? ''}: ${match ? 'wrong' : 'no'} bearer token`,
      );
      throw new UnauthorizedException('A valid internal bearer token is required');
    }
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
