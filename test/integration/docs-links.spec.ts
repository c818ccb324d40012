import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokenMarkdownLinks, githubSlug, markdownAnchors } from '../support/markdown-links';

const ROOT = join(__dirname, '..', '..');

/** README.md and every Markdown file of docs/, relative to the repository's root. */
const documents = (): string[] => [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

describe('README.md and docs/', () => {
  it('have every relative link and #anchor resolve', () => {
    expect(documents()).toEqual(expect.arrayContaining(['README.md', 'docs/performance.md']));
    expect(brokenMarkdownLinks(ROOT, documents())).toEqual([]);
  });

  it('keep the README to at most 300 lines, with a link to every document of docs/', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(300);
    for (const document of documents().slice(1)) {
      expect(readme).toContain(`](${document}`);
    }
  });
});

describe(brokenMarkdownLinks.name, () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'markdown-links-'));
    mkdirSync(join(root, 'docs'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('reports a missing file, a missing anchor in another file and in the same file, and nothing else', () => {
    writeFileSync(
      join(root, 'README.md'),
      [
        '# Title',
        '## HTTP: probes, metrics, shutdown',
        '[ok](#http-probes-metrics-shutdown) [ok](docs/a.md#one-refresh-at-a-time-rotate) [ok](docs/a.md)',
        '[gone](docs/b.md) [gone](docs/a.md#nowhere) [gone](#title-1) [web](https://example.com/#x)',
        '```',
        '[in code](docs/none.md)',
        '```',
        '`[inline code](docs/none.md)`',
      ].join('\n'),
    );
    writeFileSync(join(root, 'docs', 'a.md'), '## One refresh at a time (`rotate`)\n[up](../README.md#title)\n');

    expect(brokenMarkdownLinks(root, ['README.md', 'docs/a.md']).map(({ line, target }) => [line, target])).toEqual([
      [4, 'docs/b.md'],
      [4, 'docs/a.md#nowhere'],
      [4, '#title-1'],
    ]);
  });
});

describe(githubSlug.name, () => {
  it.each([
    ['HTTP: probes, metrics, shutdown', 'http-probes-metrics-shutdown'],
    ['One refresh at a time (`rotate`)', 'one-refresh-at-a-time-rotate'],
    ["Plan BJ-5's risks, as decided", 'plan-bj-5s-risks-as-decided'],
    ['Performance (`npm run bench`)', 'performance-npm-run-bench'],
    ['What is encrypted, and how', 'what-is-encrypted-and-how'],
    ['snake_case and **bold** [link](x.md)', 'snake_case-and-bold-link'],
  ])('%s -> #%s', (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  it('numbers a repeated heading as GitHub does', () => {
    expect([...markdownAnchors('## Keys\n## Keys\n## Keys\n')]).toEqual(['keys', 'keys-1', 'keys-2']);
  });
});
