import { Column, DataSource, Entity, PrimaryGeneratedColumn, Repository, Unique, UpdateDateColumn } from 'typeorm';
import { describeOnEveryEngine } from '../support/server-databases';
import { PreparedUpsert } from '../../src/database/prepared-upsert';

@Entity('prepared_upsert_probe')
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

  @UpdateDateColumn()
  updatedAt!: Date;
}

describeOnEveryEngine(PreparedUpsert.name, [ProbeEntity], upsertSuite);

function upsertSuite(dataSource: () => DataSource): void {
  let repository: Repository<ProbeEntity>;
  let sut: PreparedUpsert<ProbeEntity, 'platform' | 'tenantId'>;

  beforeAll(() => {
    repository = dataSource().getRepository(ProbeEntity);
  });

  beforeEach(async () => {
    await repository.clear();
    sut = new PreparedUpsert(repository, ['platform', 'tenantId']);
  });

  const first = {
    platform: `q'"; --`,
    tenantId: 'ünï 令牌 \u{1F511}',
    secret: 's-1',
    expiresAt: new Date('2030-01-02T03:04:05.000Z'),
    updatedAt: new Date('2026-01-01T00:00:00.000Z'),
  };

  it('inserts a new key with a generated uuid id and every value as the driver stores it', async () => {
    await sut.upsert(first);

    const rows = await repository.find();
    expect(rows).toEqual([
      { id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/), ...first },
    ]);
  });

  it('replaces every other column of a stored key, keeping its id and leaving other keys alone', async () => {
    await sut.upsert(first);
    await sut.upsert({ ...first, platform: 'jira' });
    const [before] = await repository.findBy({ platform: first.platform });
    const second = { ...first, secret: null, expiresAt: null, updatedAt: new Date('2026-01-02T00:00:00.000Z') };

    await sut.upsert(second);

    await expect(repository.findBy({ platform: first.platform })).resolves.toEqual([{ id: before?.id, ...second }]);
    await expect(repository.findBy({ platform: 'jira' })).resolves.toEqual([
      expect.objectContaining({ secret: 's-1', expiresAt: first.expiresAt }),
    ]);
    await expect(repository.count()).resolves.toBe(2);
  });

  it('gives every new row an id of its own', async () => {
    await sut.upsert(first);
    await sut.upsert({ ...first, tenantId: 'b' });
    await sut.upsert({ ...first, tenantId: 'c' });

    const ids = (await repository.find()).map((row) => row.id);
    expect(new Set(ids).size).toBe(3);
  });
}
