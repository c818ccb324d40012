import { BenchApp } from './app';
import { BenchKey, tokensOf } from './keys';
import { Variant } from './measure';
import { SqliteFloor } from './sqlite';

/** The key columns `Repository.upsert` conflicts on, as the repo passes them. */
const CONFLICT_PATHS = ['platform', 'tenantId'];

/**
 * The ways of reading one state: the raw floor, the injected repo, and TypeORM's `findOneBy`
 * (what `repo.get` was built on), so the report shows where between the two the repo sits.
 * Add a variant here (say, the repo with encryption on) and every table gains a row.
 */
export function getVariants(app: BenchApp, floor: SqliteFloor): Variant<BenchKey>[] {
  return [
    { name: 'raw', run: (key) => floor.get(key) },
    { name: 'repo.get', run: (key) => app.repo.get(key.platform, key.tenantId) },
    { name: 'typeorm findOneBy', run: (key) => app.typeormRepository.findOneBy({ platform: key.platform, tenantId: key.tenantId }) },
  ];
}

/**
 * The ways of writing one state and reading it back: the raw floor, the injected repo, and a
 * bare `Repository.upsert` of the same row (the repo's SQL) plus `findOneByOrFail`, which is
 * what the repo would be without its validation and wrapping.
 */
export function upsertVariants(app: BenchApp, floor: SqliteFloor): Variant<BenchKey>[] {
  return [
    { name: 'raw', run: (key, seq) => floor.upsert(key, tokensOf(seq)) },
    { name: 'repo.upsert', run: (key, seq) => app.repo.upsert(key.platform, key.tenantId, tokensOf(seq)) },
    {
      name: 'typeorm upsert+findOneBy',
      run: async (key, seq) => {
        const where = { platform: key.platform, tenantId: key.tenantId };
        await app.typeormRepository.upsert({ ...where, ...tokensOf(seq), updatedAt: new Date() }, CONFLICT_PATHS);
        return app.typeormRepository.findOneByOrFail(where);
      },
    },
  ];
}
