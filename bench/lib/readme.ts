import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The document the benchmarks write their tables into: `docs/performance.md` (the README links to it). */
export const BENCH_TABLES_PATH = join(__dirname, '..', '..', 'docs', 'performance.md');

/** The blocks of docs/performance.md that the benchmarks write, each between its two markers. */
export const README_BLOCKS = {
  /** The latest full `npm run bench` run. */
  latest: { start: '<!-- bench:latest:start -->', end: '<!-- bench:latest:end -->' },
  /** The committed `npm run bench:reencrypt` results. */
  reencrypt: { start: '<!-- bench:reencrypt:start -->', end: '<!-- bench:reencrypt:end -->' },
  /** The committed `AtlassianApiClient` results of `npm run bench`. */
  apiClient: { start: '<!-- bench:api-client:start -->', end: '<!-- bench:api-client:end -->' },
} as const;

export type ReadmeBlock = keyof typeof README_BLOCKS;

/** Where `block`'s content lies in `text`: after its start marker, up to its end marker; undefined without both in order. */
function locate(text: string, block: ReadmeBlock): { from: number; to: number } | undefined {
  const { start, end } = README_BLOCKS[block];
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  return from < 0 || to < from ? undefined : { from: from + start.length, to };
}

/** What docs/performance.md holds in `block` (trimmed), or undefined when its markers are missing or out of order. */
export function readReadmeBlock(block: ReadmeBlock): string | undefined {
  const text = readFileSync(BENCH_TABLES_PATH, 'utf8');
  const at = locate(text, block);
  return at === undefined ? undefined : text.slice(at.from, at.to).trim();
}

/** Puts `content` in docs/performance.md's `block`; false (nothing written) when its markers are missing or out of order. */
export function writeReadmeBlock(block: ReadmeBlock, content: string): boolean {
  const text = readFileSync(BENCH_TABLES_PATH, 'utf8');
  const at = locate(text, block);
  if (at === undefined) {
    return false;
  }
  writeFileSync(BENCH_TABLES_PATH, `${text.slice(0, at.from)}\n\n${content}\n${text.slice(at.to)}`);
  return true;
}
