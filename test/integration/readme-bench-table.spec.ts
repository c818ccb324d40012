import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReadmeTable } from '../../bench/lib/report';
import {
  README_REENCRYPT_END,
  README_REENCRYPT_START,
  readCommittedReencryptResults,
  renderReencryptTable,
} from '../../bench/lib/reencrypt-report';
import { BenchResult } from '../../bench/lib/results';

const ROOT = join(__dirname, '..', '..');
const START = '<!-- bench:latest:start -->';
const END = '<!-- bench:latest:end -->';

/** What the README holds between two markers (trimmed); fails the test when either is missing or out of order. */
function readmeBetween(startMarker: string, endMarker: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(startMarker);
  const end = readme.indexOf(endMarker);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return readme.slice(start + startMarker.length, end).trim();
}

// The README's figures are the committed full run's: `npm run bench` rewrites both together, and
// `npm run bench -- --render bench/results/latest.json` re-renders the README from the results.
describe("the README's benchmark table", () => {
  it('is what the bench renders from bench/results/latest.json, verbatim between its markers', () => {
    const latest = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as BenchResult;

    expect(latest.quick).toBe(false);
    expect(readmeBetween(START, END)).toBe(renderReadmeTable(latest).trim());
  });

  it('shows the committed bench:reencrypt results (a key rotation, legacy plaintext), verbatim between its markers', () => {
    const results = readCommittedReencryptResults();

    expect(results.map((result) => result.runs.map((run) => [run.from, run.engine, run.rows]))).toEqual(
      (['old-key', 'plaintext'] as const).map((from) =>
        ['sqlite-file', 'postgres', 'mariadb'].map((engine) => [from, engine, 100_000]),
      ),
    );
    expect(readmeBetween(README_REENCRYPT_START, README_REENCRYPT_END)).toBe(renderReencryptTable(results).trim());
  });
});
