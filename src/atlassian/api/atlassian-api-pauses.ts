import { Injectable } from '@nestjs/common';
import { AtlassianApiPauseEntity } from '../../database/entities';
import { stateKeyId } from '../atlassian-oauth-state.types';
import { AtlassianApiPauseKind } from './atlassian-api.errors';
import { AtlassianApiPauseRepo } from './atlassian-api-pause.repo';

/** How long the pauses read from the database are used before they are read again. */
export const PAUSE_CACHE_MS = 1_000;

/** A pause in force for a call. */
export interface AtlassianApiPause {
  readonly kind: AtlassianApiPauseKind;
  readonly until: number;
  readonly reason: string;
}

/** Where a call goes, as far as pauses are concerned. */
export interface AtlassianApiCallScope {
  readonly platform: string;
  readonly tenantId: string;
  /** `METHOD /path` without the query: the burst limit's endpoint. */
  readonly endpoint: string;
}

/**
 * The pauses of REST calls: app-wide and per-tenant pauses are rows of `atlassian_api_pause`,
 * shared by every process of the database and read through a cache of at most
 * {@link PAUSE_CACHE_MS}; endpoint (burst) pauses live in this process only. A pause this process
 * records applies to its own calls at once.
 */
@Injectable()
export class AtlassianApiPauses {
  private rows = new Map<string, AtlassianApiPause>();
  private readAt = -Infinity;
  private reading: Promise<void> | undefined;
  private readonly endpoints = new Map<string, AtlassianApiPause>();

  constructor(private readonly repo: AtlassianApiPauseRepo) {}

  /** The pause in force for a call now that ends last, or `null`. */
  async current(call: AtlassianApiCallScope, now: number = Date.now()): Promise<AtlassianApiPause | null> {
    if (now - this.readAt >= PAUSE_CACHE_MS) {
      await this.read();
    }
    const candidates = [
      this.rows.get(rowKey('app', call.platform, '')),
      this.rows.get(rowKey('tenant', call.platform, call.tenantId)),
      this.endpoints.get(endpointKey(call)),
    ];
    let longest: AtlassianApiPause | null = null;
    for (const pause of candidates) {
      if (pause !== undefined && pause.until > now && (longest === null || pause.until > longest.until)) {
        longest = pause;
      }
    }
    return longest;
  }

  /** Records a pause of `kind` for the call's scope until `until` (ms since the epoch). */
  async pause(kind: AtlassianApiPauseKind, call: AtlassianApiCallScope, until: number, reason: string): Promise<void> {
    const pause: AtlassianApiPause = { kind, until, reason };
    if (kind === 'endpoint') {
      this.endpoints.set(endpointKey(call), pause);
      this.forgetEndedEndpoints();
      return;
    }
    const tenantId = kind === 'app' ? '' : call.tenantId;
    this.rows.set(rowKey(kind, call.platform, tenantId), pause);
    await this.repo.save(
      Object.assign(new AtlassianApiPauseEntity(), {
        scope: kind,
        platform: call.platform,
        tenantId,
        pausedUntil: new Date(until),
        reason,
        pausedAt: new Date(),
      }),
    );
  }

  /** Reads the pauses in force, once at a time however many callers ask. */
  private read(): Promise<void> {
    this.reading ??= (async () => {
      try {
        const started = Date.now();
        const rows = await this.repo.inForce(new Date(started));
        const fresh = new Map<string, AtlassianApiPause>();
        for (const row of rows) {
          fresh.set(rowKey(row.scope, row.platform, row.tenantId), {
            kind: row.scope,
            until: row.pausedUntil.getTime(),
            reason: row.reason,
          });
        }
        // A pause this process recorded while reading is kept even if the read missed it.
        for (const [key, pause] of this.rows) {
          const read = fresh.get(key);
          if (pause.until > started && (read === undefined || read.until < pause.until)) {
            fresh.set(key, pause);
          }
        }
        this.rows = fresh;
        this.readAt = started;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private forgetEndedEndpoints(): void {
    const now = Date.now();
    for (const [key, pause] of this.endpoints) {
      if (pause.until <= now) {
        this.endpoints.delete(key);
      }
    }
  }
}

function rowKey(kind: string, platform: string, tenantId: string): string {
  return JSON.stringify([kind, platform, tenantId]);
}

function endpointKey(call: AtlassianApiCallScope): string {
  return JSON.stringify([stateKeyId(call), call.endpoint]);
}
