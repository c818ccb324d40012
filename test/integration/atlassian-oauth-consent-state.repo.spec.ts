import { createHash } from 'node:crypto';
import { Test, TestingModule } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { withConfig } from '../support/config';
import { repoTestEngines, RepoTestEngine } from '../support/repo-test-engines';
import { DatabaseModule } from '../../src/database/database.module';
import { AtlassianOauthConsentStateEntity } from '../../src/database/entities';
import {
  AtlassianOauthConsent,
  AtlassianOauthConsentStateRepo,
} from '../../src/atlassian/consent/atlassian-oauth-consent-state.repo';

const CONSENT: AtlassianOauthConsent = {
  platform: 'jira',
  tenantId: 'tenant-a',
  returnTo: 'https://app.example.com/settings/atlassian',
};
const inTenMinutes = (): Date => new Date(Date.now() + 600_000);

describe.each(repoTestEngines())(
  `${AtlassianOauthConsentStateRepo.name} on %s`,
  (_engineName: string, engine: RepoTestEngine) => {
    let moduleRef: TestingModule;
    let sut: AtlassianOauthConsentStateRepo;
    let rows: Repository<AtlassianOauthConsentStateEntity>;

    beforeAll(() => engine.setUp());
    afterAll(() => engine.tearDown());
    beforeEach(async () => {
      moduleRef = await withConfig(
        Test.createTestingModule({
          imports: [DatabaseModule, TypeOrmModule.forFeature([AtlassianOauthConsentStateEntity])],
          providers: [AtlassianOauthConsentStateRepo],
        }),
        engine.config(),
      ).compile();
      sut = moduleRef.get(AtlassianOauthConsentStateRepo);
      const dataSource = moduleRef.get<DataSource>(getDataSourceToken());
      await engine.reset(dataSource);
      rows = dataSource.getRepository(AtlassianOauthConsentStateEntity);
    });
    afterEach(() => moduleRef.close());

    it('issues 256-bit base64url states and stores only their SHA-256 with the consent', async () => {
      const expiresAt = inTenMinutes();
      const first = await sut.create(CONSENT, expiresAt);
      const second = await sut.create(CONSENT, expiresAt);

      expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(first, 'base64url')).toHaveLength(32);
      expect(second).not.toBe(first);
      const stored = await rows.findOneByOrFail({ stateHash: createHash('sha256').update(first).digest('hex') });
      expect(stored).toEqual({ stateHash: expect.any(String), ...CONSENT, expiresAt });
      await expect(rows.count()).resolves.toBe(2);
      const everything = JSON.stringify(await rows.find());
      expect(everything).not.toContain(first);
      expect(everything).not.toContain(second);
    });

    it('consumes a state once: the second use of the same state is unknown, and the row is gone', async () => {
      const state = await sut.create(CONSENT, inTenMinutes());

      await expect(sut.consume(state)).resolves.toEqual({ outcome: 'consumed', consent: CONSENT });
      await expect(sut.consume(state)).resolves.toEqual({ outcome: 'unknown' });
      await expect(rows.count()).resolves.toBe(0);
    });

    it('lets exactly one of many concurrent callbacks with the same state consume it', async () => {
      const state = await sut.create(CONSENT, inTenMinutes());

      const outcomes = await Promise.all(Array.from({ length: 8 }, () => sut.consume(state)));

      expect(outcomes.filter((o) => o.outcome === 'consumed')).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'unknown')).toHaveLength(7);
    });

    it('refuses an expired state as expired and removes it', async () => {
      const state = await sut.create(CONSENT, new Date(Date.now() - 1));

      await expect(sut.consume(state)).resolves.toEqual({ outcome: 'expired' });
      await expect(rows.count()).resolves.toBe(0);
      await expect(sut.consume(state)).resolves.toEqual({ outcome: 'unknown' });
    });

    it.each<[string, (state: string) => string]>([
      ['a state never issued', () => 'x'.repeat(43)],
      [
        'a tampered state (one character changed)',
        (state) => `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`,
      ],
      ['an empty string', () => ''],
      ['a state with characters outside base64url', (state) => `${state.slice(0, -1)}=`],
      ['a state too long', (state) => `${state}A`],
    ])('answers unknown for %s and leaves the stored state alone', async (_name, forge) => {
      const state = await sut.create(CONSENT, inTenMinutes());

      await expect(sut.consume(forge(state))).resolves.toEqual({ outcome: 'unknown' });
      await expect(rows.count()).resolves.toBe(1);
    });

    it('purges states that expired earlier whenever it issues a new one', async () => {
      await sut.create(CONSENT, new Date(Date.now() - 1_000));
      await sut.create({ ...CONSENT, tenantId: 'tenant-b' }, new Date(Date.now() - 1_000));
      const live = await sut.create(CONSENT, inTenMinutes());

      await expect(rows.count()).resolves.toBe(1);
      await expect(sut.consume(live)).resolves.toMatchObject({ outcome: 'consumed' });
    });
  },
);
