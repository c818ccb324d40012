import { Injectable, Logger, Optional } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { AtlassianEventName, AtlassianGrantEvent } from './atlassian-oauth.events';

/**
 * Emits the {@link ATLASSIAN_EVENTS} on the application's `EventEmitter2`, the one
 * `EventEmitterModule.forRoot()` registers (agent-core's own service registers it). In an
 * application without it nothing is emitted and everything else works the same: events are
 * news for the host, never part of storing or refreshing a token. A listener that throws is
 * logged and never fails the call that emitted.
 */
@Injectable()
export class AtlassianOauthEventPublisher {
  private readonly logger = new Logger('AtlassianOauthEvents');

  constructor(@Optional() private readonly emitter?: EventEmitter2) {}

  /** Whether events reach anyone: `EventEmitterModule.forRoot()` is registered in the application. */
  get enabled(): boolean {
    return this.emitter !== undefined;
  }

  /** Emits `event` under `name`, synchronously; never throws. */
  emit(name: AtlassianEventName, event: AtlassianGrantEvent): void {
    if (!this.emitter) {
      return;
    }
    try {
      this.emitter.emit(name, event);
    } catch (error) {
      this.logger.warn(
        `A listener of ${name} threw ${error instanceof Error ? error.name : 'a non-error'}; the event was delivered to the others`,
      );
    }
  }
}
