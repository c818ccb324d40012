import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReadmeTable } from '../../bench/lib/report';
import { BENCH_TABLES_PATH, README_BLOCKS, readReadmeBlock } from '../../bench/lib/readme';
import { readCommittedReencryptResults, renderReencryptTable } from '../../bench/lib/reencrypt-report';
import { BenchResult } from '../../bench/lib/results';

const ROOT = join(__dirname, '..', '..');

// docs/performance.md's figures are the committed full run's: `npm run bench` rewrites both together, and
// `npm run bench -- --render bench/results/latest.json` re-renders the tables from the results.
describe('the benchmark tables in docs/performance.md', () => {
  it('is what the bench renders from bench/results/latest.json, verbatim between its markers', () => {
    const latest = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as BenchResult;

    expect(latest.quick).toBe(false);
    expect(readReadmeBlock('latest')).toBe(renderReadmeTable(latest).trim());
  });

  it('shows the committed bench:reencrypt results (a key rotation, legacy plaintext), verbatim between its markers', () => {
    const results = readCommittedReencryptResults();

    expect(results.map((result) => result.runs.map((run) => [run.from, run.engine, run.rows]))).toEqual(
      (['old-key', 'plaintext'] as const).map((from) =>
        ['sqlite-file', 'postgres', 'mariadb'].map((engine) => [from, engine, 100_000]),
      ),
    );
    expect(readReadmeBlock('reencrypt')).toBe(renderReencryptTable(results).trim());
  });

  it('live in docs/performance.md, not in README.md', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

    expect(BENCH_TABLES_PATH).toBe(join(ROOT, 'docs', 'performance.md'));
    for (const { start, end } of Object.values(README_BLOCKS)) {
      expect(readme).not.toContain(start);
      expect(readme).not.toContain(end);
    }
  });
});
