import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SRC = join(__dirname, '..', '..', 'src');

/**
 * src/'s folders from the ground up: a file may import from its own layer and the layers below it,
 * never from one above. `config/` is the ground floor (it imports nothing else from src/); the
 * database layer and the token cipher know nothing about Atlassian; the feature sits on them; the
 * HTTP server, the CLI and `main.ts` are the top floors. A root file is named with its extension.
 */
const SOURCE_LAYERS: readonly (readonly string[])[] = [
  ['config'],
  ['common'],
  ['database'],
  ['token-cipher'],
  ['metrics'],
  ['atlassian'],
  ['health'],
  ['app.module.ts', 'boot-logger.ts'],
  ['http'],
  ['cli'],
  ['main.ts'],
];

/** Every `.ts` file under `dir`, specs included. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** The relative module specifiers `source` imports or re-exports (static and dynamic). */
function relativeImports(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']*)'/g)) {
    found.push(match[1] ?? '');
  }
  return found;
}

/** The layer of a path under src/: its first segment (the folder, or a root file's name). */
const segmentOf = (path: string): string => relative(SRC, path).split(sep)[0] ?? '';

function layerOf(path: string): number {
  const segment = segmentOf(path);
  const candidates = [segment, `${segment}.ts`];
  return SOURCE_LAYERS.findIndex((layer) => candidates.some((name) => layer.includes(name)));
}

/** `importer -> imported` for every import that points from a lower layer up to a higher one, or out of src/. */
function layerViolations(): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    if (from < 0) {
      violations.push(`${relative(SRC, file)} is in no layer`);
      continue;
    }
    for (const specifier of relativeImports(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), specifier);
      if (relative(SRC, target).startsWith('..')) {
        violations.push(`${relative(SRC, file)} -> ${specifier} (outside src/)`);
        continue;
      }
      const to = layerOf(target);
      if (to < 0 || to > from) {
        violations.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
      }
    }
  }
  return violations.sort();
}

describe('the layers of src/', () => {
  it('has every folder and root file in a layer', () => {
    const segments = new Set(sourceFiles(SRC).map(segmentOf));

    expect([...segments].filter((segment) => layerOf(join(SRC, segment)) < 0)).toEqual([]);
  });

  it('has no import from a lower layer up to a higher one, and none out of src/', () => {
    expect(layerViolations()).toEqual([]);
  });

  it('keeps config/ the ground floor: it imports nothing else from src/', () => {
    const upward = sourceFiles(join(SRC, 'config')).flatMap((file) =>
      relativeImports(readFileSync(file, 'utf8'))
        .map((specifier) => resolve(dirname(file), specifier))
        .filter((target) => segmentOf(target) !== 'config')
        .map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`),
    );

    expect(upward).toEqual([]);
  });
});
