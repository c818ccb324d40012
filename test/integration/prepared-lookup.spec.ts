import {
  Column,
  DataSource,
  Entity,
  EntityNotFoundError,
  PrimaryGeneratedColumn,
  Repository,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { describeOnEveryEngine } from '../support/server-databases';
import { PreparedLookup } from '../../src/database/prepared-lookup';

@Entity('prepared_lookup_probe')
@Unique(['platform', 'tenantId'])
class ProbeEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 255 })
  platform!: string;

  @Column({ type: 'varchar', length: 255, name: 'tenant_id' })
  tenantId!: string;

  @Column({ type: 'text', nullable: true })
  secret!: string | null;

  @Column({ type: Date, nullable: true, name: 'expires_at' })
  expiresAt!: Date | null;

  @Column({
    type: 'varchar',
    length: 255,
    transformer: { to: (tags: string[]) => tags.join(','), from: (text: string) => text.split(',') },
  })
  tags!: string[];

  @Column({ type: 'varchar', length: 255, nullable: true, select: false })
  hidden!: string | null;

  @UpdateDateColumn()
  updatedAt!: Date;
}

describeOnEveryEngine(PreparedLookup.name, [ProbeEntity], lookupSuite);

function lookupSuite(dataSource: () => DataSource): void {
  let repository: Repository<ProbeEntity>;
  let sut: PreparedLookup<ProbeEntity, 'platform' | 'tenantId'>;

  beforeAll(() => {
    repository = dataSource().getRepository(ProbeEntity);
  });

  beforeEach(async () => {
    await repository.clear();
    sut = new PreparedLookup(repository, ['platform', 'tenantId']);
    await repository.save([
      repository.create({
        platform: 'jira',
        tenantId: 'a',
        secret: 's-1',
        expiresAt: new Date('2030-01-02T03:04:05Z'),
        tags: ['x', 'y'],
        hidden: 'h',
      }),
      repository.create({ platform: 'a', tenantId: 'jira', secret: null, expiresAt: null, tags: ['z'] }),
      repository.create({
        platform: `q'"; --`,
        tenantId: 'ünï 令牌 \u{1F511}',
        secret: 's-3',
        expiresAt: null,
        tags: ['w'],
      }),
    ]);
  });

  it('returns exactly what findOneBy returns: the entity class, Dates, nulls, transformed columns, no select:false column', async () => {
    for (const where of [
      { platform: 'jira', tenantId: 'a' },
      { platform: 'a', tenantId: 'jira' },
      { platform: `q'"; --`, tenantId: 'ünï 令牌 \u{1F511}' },
    ]) {
      const found = await sut.findOne(where);

      expect(found).toBeInstanceOf(ProbeEntity);
      expect(found).toEqual(await repository.findOneBy(where));
    }
    await expect(sut.findOne({ platform: 'jira', tenantId: 'a' })).resolves.toMatchObject({
      tags: ['x', 'y'],
      expiresAt: new Date('2030-01-02T03:04:05Z'),
      updatedAt: expect.any(Date),
    });
    expect(Object.keys((await sut.findOne({ platform: 'jira', tenantId: 'a' })) ?? {})).not.toContain('hidden');
  });

  it('resolves null for a key that is not stored', async () => {
    await expect(sut.findOne({ platform: 'jira', tenantId: 'nobody' })).resolves.toBeNull();
    await expect(sut.findOne({ platform: 'confluence', tenantId: 'a' })).resolves.toBeNull();
  });

  it('binds each value to its own column whatever order the keys are listed in', async () => {
    const reversed = new PreparedLookup(repository, ['tenantId', 'platform']);

    await expect(reversed.findOne({ platform: 'jira', tenantId: 'a' })).resolves.toMatchObject({
      platform: 'jira',
      tenantId: 'a',
      secret: 's-1',
    });
    await expect(reversed.findOne({ tenantId: 'jira', platform: 'a' })).resolves.toMatchObject({
      platform: 'a',
      tenantId: 'jira',
      secret: null,
    });
  });

  it('reads the database on every call: a change written elsewhere is seen at once', async () => {
    await expect(sut.findOne({ platform: 'jira', tenantId: 'a' })).resolves.toMatchObject({ secret: 's-1' });
    await repository.update({ platform: 'jira', tenantId: 'a' }, { secret: 's-2' });

    await expect(sut.findOne({ platform: 'jira', tenantId: 'a' })).resolves.toMatchObject({ secret: 's-2' });
    await repository.delete({ platform: 'jira', tenantId: 'a' });
    await expect(sut.findOne({ platform: 'jira', tenantId: 'a' })).resolves.toBeNull();
  });

  it("findOneOrFail rejects with TypeORM's EntityNotFoundError for a missing key", async () => {
    await expect(sut.findOneOrFail({ platform: 'a', tenantId: 'jira' })).resolves.toMatchObject({
      platform: 'a',
      tenantId: 'jira',
    });
    await expect(sut.findOneOrFail({ platform: 'jira', tenantId: 'nobody' })).rejects.toBeInstanceOf(
      EntityNotFoundError,
    );
  });
}
