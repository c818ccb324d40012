import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, Repository } from 'typeorm';
import { AtlassianOauthStateRepo } from '../../src/atlassian/atlassian-oauth-state.repo';
import { AtlassianOauthRefresh } from '../../src/atlassian/atlassian-oauth-state.types';
import { AtlassianOauthRotationService } from '../../src/atlassian/rotation/atlassian-oauth-rotation.service';
import { AtlassianOauthRefreshLeaseEntity } from '../../src/database/entities';
import { RepoTestEngine, bootRepoPerTest } from './repo-test-engines';

export const HOUR_MS = 3_600_000;

export const inMs = (ms: number): Date => new Date(Date.now() + ms);

/** A refresh that counts its calls, records the refresh tokens it was given, and returns `refresh-<n>` valid for an hour. */
export function countingRefresh(delayMs = 0): { refresh: AtlassianOauthRefresh; received: string[] } {
  const received: string[] = [];
  const refresh: AtlassianOauthRefresh = async (current) => {
    received.push(current.refreshToken);
    await sleep(delayMs);
    const n = received.length;
    return { accessToken: `access-${n}`, refreshToken: `refresh-${n}`, expiresAt: inMs(HOUR_MS) };
  };
  return { refresh, received };
}

/** What a rotation test works with: the service, the plan's store, the data source and the lease table. */
export interface BootedRotation {
  sut: AtlassianOauthRotationService;
  states: AtlassianOauthStateRepo;
  dataSource: DataSource;
  leases: Repository<AtlassianOauthRefreshLeaseEntity>;
}

/**
 * {@link bootRepoPerTest} for the rotation service's suites.
 *
 * @returns the current test's service, store, data source and lease table; register your own `beforeEach` after this call.
 */
export function bootRotationPerTest(engine: RepoTestEngine): () => BootedRotation {
  const booted = bootRepoPerTest(engine);
  return () => {
    const { sut: states, dataSource, moduleRef } = booted();
    return {
      sut: moduleRef.get(AtlassianOauthRotationService),
      states,
      dataSource,
      leases: dataSource.getRepository(AtlassianOauthRefreshLeaseEntity),
    };
  };
}
