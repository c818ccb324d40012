import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReadmeTable } from '../../bench/lib/report';
import { BenchResult } from '../../bench/lib/results';

const ROOT = join(__dirname, '..', '..');
const START = '<!-- bench:latest:start -->';
const END = '<!-- bench:latest:end -->';

// The README's figures are the committed full run's: `npm run bench` rewrites both together, and
// `npm run bench -- --render bench/results/latest.json` re-renders the README from the results.
describe("the README's benchmark table", () => {
  it('is what the bench renders from bench/results/latest.json, verbatim between its markers', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const latest = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as BenchResult;

    expect(latest.quick).toBe(false);
    expect(readme.slice(start + START.length, end).trim()).toBe(renderReadmeTable(latest).trim());
  });
});
