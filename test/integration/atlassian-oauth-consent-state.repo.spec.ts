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
  scopes: ['read:jira-work', 'offline_access'],
};
const BROWSER = 'b'.repeat(22) + 'B'.repeat(21);
const OTHER_BROWSER = 'c'.repeat(43);
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
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

    /** A consent opened by BROWSER: its state. */
    const boundState = async (expiresAt = inTenMinutes()): Promise<string> => {
      const flow = await sut.create(CONSENT, inTenMinutes());
      const bound = await sut.bind(flow, BROWSER, expiresAt);
      if (bound.outcome !== 'bound') {
        throw new Error(`not bound: ${bound.outcome}`);
      }
      return bound.state;
    };

    it('issues 256-bit base64url flows and stores only their SHA-256 with the consent', async () => {
      const expiresAt = inTenMinutes();
      const first = await sut.create(CONSENT, expiresAt);
      const second = await sut.create(CONSENT, expiresAt);

      expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(first, 'base64url')).toHaveLength(32);
      expect(second).not.toBe(first);
      const stored = await rows.findOneByOrFail({ stateHash: sha256(first) });
      expect(stored).toEqual({
        stateHash: expect.any(String),
        platform: CONSENT.platform,
        tenantId: CONSENT.tenantId,
        returnTo: CONSENT.returnTo,
        scopes: 'read:jira-work offline_access',
        browserHash: null,
        expiresAt,
      });
      await expect(rows.count()).resolves.toBe(2);
      const everything = JSON.stringify(await rows.find());
      expect(everything).not.toContain(first);
      expect(everything).not.toContain(second);
    });

    it('binds a flow to the first browser once: a fresh state, the browser secret stored hashed, the flow gone', async () => {
      const flow = await sut.create(CONSENT, inTenMinutes());
      const expiresAt = inTenMinutes();

      const bound = await sut.bind(flow, BROWSER, expiresAt);

      expect(bound).toEqual({
        outcome: 'bound',
        state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        consent: CONSENT,
      });
      const state = (bound as { state: string }).state;
      expect(state).not.toBe(flow);
      await expect(rows.find()).resolves.toEqual([
        expect.objectContaining({ stateHash: sha256(state), browserHash: sha256(BROWSER), expiresAt }),
      ]);
      // A second browser, or the same one again: the link is used.
      await expect(sut.bind(flow, OTHER_BROWSER, inTenMinutes())).resolves.toEqual({ outcome: 'unknown' });
      await expect(sut.bind(flow, BROWSER, inTenMinutes())).resolves.toEqual({ outcome: 'unknown' });
      const everything = JSON.stringify(await rows.find());
      expect(everything).not.toContain(BROWSER);
      expect(everything).not.toContain(state);
    });

    it('lets exactly one of many browsers opening the same start link at once bind it', async () => {
      const flow = await sut.create(CONSENT, inTenMinutes());

      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => sut.bind(flow, `${i}`.repeat(43), inTenMinutes())),
      );

      expect(outcomes.filter((o) => o.outcome === 'bound')).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'unknown')).toHaveLength(7);
    });

    it('refuses an expired start link as expired and removes it', async () => {
      const flow = await sut.create(CONSENT, new Date(Date.now() - 1));

      await expect(sut.bind(flow, BROWSER, inTenMinutes())).resolves.toEqual({ outcome: 'expired' });
      await expect(rows.count()).resolves.toBe(0);
    });

    it('consumes a state once, in the browser it is bound to: the second use is unknown, and the row is gone', async () => {
      const state = await boundState();

      await expect(sut.consume(state, BROWSER)).resolves.toEqual({ outcome: 'consumed', consent: CONSENT });
      await expect(sut.consume(state, BROWSER)).resolves.toEqual({ outcome: 'unknown' });
      await expect(rows.count()).resolves.toBe(0);
    });

    it.each([
      ['another browser secret', OTHER_BROWSER],
      ['no browser secret', undefined],
    ])('refuses a live state with %s as other-browser and keeps it for its browser', async (_name, secret) => {
      const state = await boundState();

      await expect(sut.consume(state, secret)).resolves.toEqual({ outcome: 'other-browser' });
      await expect(rows.count()).resolves.toBe(1);
      await expect(sut.consume(state, BROWSER)).resolves.toMatchObject({ outcome: 'consumed' });
    });

    it('never takes a start link that no browser opened as a state', async () => {
      const flow = await sut.create(CONSENT, inTenMinutes());

      await expect(sut.consume(flow, BROWSER)).resolves.toEqual({ outcome: 'unknown' });
      await expect(rows.count()).resolves.toBe(1);
    });

    it('lets exactly one of many concurrent callbacks with the same state consume it', async () => {
      const state = await boundState();

      const outcomes = await Promise.all(Array.from({ length: 8 }, () => sut.consume(state, BROWSER)));

      expect(outcomes.filter((o) => o.outcome === 'consumed')).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'unknown')).toHaveLength(7);
    });

    it('refuses an expired state as expired and removes it', async () => {
      const state = await boundState(new Date(Date.now() - 1));

      await expect(sut.consume(state, BROWSER)).resolves.toEqual({ outcome: 'expired' });
      await expect(rows.count()).resolves.toBe(0);
      await expect(sut.consume(state, BROWSER)).resolves.toEqual({ outcome: 'unknown' });
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
      const state = await boundState();

      await expect(sut.consume(forge(state), BROWSER)).resolves.toEqual({ outcome: 'unknown' });
      await expect(sut.bind(forge(state), BROWSER, inTenMinutes())).resolves.toEqual({ outcome: 'unknown' });
      await expect(rows.count()).resolves.toBe(1);
    });

    it('purges consents that expired earlier whenever it starts a new one', async () => {
      await sut.create(CONSENT, new Date(Date.now() - 1_000));
      await sut.create({ ...CONSENT, tenantId: 'tenant-b' }, new Date(Date.now() - 1_000));
      const live = await sut.create(CONSENT, inTenMinutes());

      await expect(rows.count()).resolves.toBe(1);
      await expect(sut.bind(live, BROWSER, inTenMinutes())).resolves.toMatchObject({ outcome: 'bound' });
    });
  },
);
