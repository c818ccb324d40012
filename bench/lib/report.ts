import { VariantStats } from './measure';
import { renderKeepAlive } from './keep-alive';
import { renderStorm } from './storm';
import { ACCESS_TOKEN_VALID, BenchResult, EngineResult, ROTATE_VALID, TargetResult } from './results';
import { ratio } from './targets';

export const int = (value: number): string => Math.round(value).toLocaleString('en-US');
const fixed = (value: number): string => value.toFixed(1);
export const table = (header: string[], rows: string[][]): string =>
  [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');

function operationRows(rows: number, op: string, list: readonly VariantStats[]): string[][] {
  return list.map((s) => [
    int(rows),
    op,
    s.variant,
    int(s.opsPerSec),
    fixed(s.meanUs),
    fixed(s.p50Us),
    fixed(s.p99Us),
    fixed(s.p99MedianRoundUs),
    `${ratio(list, s.variant, 'raw').toFixed(2)}x`,
  ]);
}

function engineSection(engine: EngineResult): string {
  const pragmas = Object.entries(engine.pragmas)
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(', ');
  const rows = engine.sizes.flatMap((size) => [
    ...operationRows(size.rows, 'get', size.get),
    ...operationRows(size.rows, 'upsert', size.upsert),
    ...operationRows(size.rows, 'rotate', size.rotate),
  ]);
  return [
    `### ${engine.name} (${pragmas}; stored tokens ${engine.storedSealed ? 'sealed' : 'plaintext'})`,
    '',
    table(
      ['rows', 'op', 'variant', 'ops/s', 'mean µs', 'p50 µs', 'p99 µs', 'p99 µs (median round)', 'time vs raw'],
      rows,
    ),
  ].join('\n');
}

function find(list: readonly VariantStats[], variant: string): VariantStats | undefined {
  return list.find((s) => s.variant === variant);
}

/**
 * One line per engine and size: mean µs of raw, repo and bare TypeORM for get and upsert, with
 * the paired ratios. What docs/performance.md shows; latest.md has every number.
 */
export function renderSummary(result: BenchResult): string {
  const rows = result.engines.flatMap((engine) =>
    engine.sizes.map((size) => {
      const cells = (list: readonly VariantStats[], repo: string, bare: string): string[] => [
        fixed(find(list, 'raw')?.meanUs ?? Number.NaN),
        fixed(find(list, repo)?.meanUs ?? Number.NaN),
        fixed(find(list, bare)?.meanUs ?? Number.NaN),
        `${ratio(list, repo, 'raw').toFixed(2)}x`,
        `${ratio(list, repo, bare).toFixed(2)}x`,
      ];
      return [
        engine.name,
        int(size.rows),
        ...cells(size.get, 'repo.get', 'typeorm findOneBy'),
        int(find(size.get, 'repo.get')?.opsPerSec ?? Number.NaN),
        fixed(find(size.get, 'repo.get')?.p50Us ?? Number.NaN),
        fixed(find(size.get, 'repo.get')?.p99Us ?? Number.NaN),
        fixed(find(size.get, 'repo.get')?.p99MedianRoundUs ?? Number.NaN),
        ...cells(size.upsert, 'repo.upsert', 'typeorm upsert+findOneBy'),
        `${ratio(size.rotate, 'repo get+upsert(expected)', 'raw').toFixed(2)}x`,
        `${ratio(size.get, ROTATE_VALID, 'repo.get').toFixed(2)}x`,
        `${ratio(size.get, ACCESS_TOKEN_VALID, 'repo.get').toFixed(2)}x`,
      ];
    }),
  );
  return table(
    [
      'engine',
      'rows',
      'get raw µs',
      'get repo µs',
      'findOneBy µs',
      'get repo/raw',
      'get repo/findOneBy',
      'get repo ops/s',
      'get repo p50 µs',
      'get repo p99 µs',
      'get repo p99 µs (median round)',
      'upsert raw µs',
      'upsert repo µs',
      'bare upsert µs',
      'upsert repo/raw',
      'upsert repo/bare',
      'get+conditional upsert repo/raw',
      'rotate (still valid)/get',
      'accessToken (still valid)/get',
    ],
    rows,
  );
}

/** Each target once: met everywhere or not, with its worst measurement and where that was. */
export function renderTargetSummary(result: BenchResult): string {
  const byTarget = new Map<string, TargetResult[]>();
  for (const target of result.targets) {
    byTarget.set(target.target, [...(byTarget.get(target.target) ?? []), target]);
  }
  const rows = [...byTarget.entries()].map(([name, targets]) => {
    const worst = targets.reduce((a, b) => (b.measured / b.limit > a.measured / a.limit ? b : a));
    const met = targets.filter((t) => t.met).length;
    return [name, `${met} of ${targets.length}`, `${worst.measured} (${worst.where})`, String(worst.limit)];
  });
  return table(['target', 'met', 'worst measured (where)', 'limit'], rows);
}

/** The machine and the run, in one line each. */
export function renderMachine(result: BenchResult): string[] {
  const { machine } = result;
  return [
    `Run ${result.startedAt}${result.quick ? ' (--quick: tiny sizes, not a measurement)' : ''}, ${result.seconds} s, commit ${machine.commit}.`,
    `Machine: nproc ${machine.nproc}, ${machine.cpuModel}, ${int(machine.totalMemMiB)} MiB RAM, Node ${machine.node}, ${machine.platform}.`,
  ];
}

/** The run as markdown: the machine, the targets, every measurement, loading, contention and the query plan. */
export function renderMarkdown(result: BenchResult): string {
  const lines: string[] = [
    ...renderMachine(result),
    '',
    '### Targets (ratios within this run)',
    '',
    'A ratio "time vs X" is the median over rounds of (mean time of the variant in that round / mean time of X in that round); every round runs all variants back to back on the same keys, the first variant rotating. "p99 (median round)" is the median of the rounds\' p99s: one burst of a noisy neighbour cannot set it alone.',
    '',
    table(
      ['target', 'where', 'measured', 'limit', 'met'],
      result.targets.map((t) => [t.target, t.where, String(t.measured), String(t.limit), t.met ? 'yes' : '**no**']),
    ),
  ];
  lines.push('', '### Summary (mean µs per call; ratios paired by round)', '', renderSummary(result));
  for (const engine of result.engines) {
    lines.push('', engineSection(engine));
  }
  lines.push(
    '',
    '### Loading (raw prepared inserts, 10,000 rows a transaction; RSS sampled after each)',
    '',
    table(
      ['engine', 'rows', 'seconds', 'rows/s', 'RSS before MiB', 'peak RSS MiB', 'peak JS heap MiB', 'database MiB'],
      result.engines.flatMap((engine) =>
        engine.sizes.map((size) => [
          engine.name,
          `${int(size.load.fromRows)} → ${int(size.load.toRows)}`,
          String(size.load.seconds),
          int(size.load.rowsPerSec),
          int(size.load.rssBeforeMiB),
          int(size.load.peakRssMiB),
          int(size.load.peakHeapUsedMiB),
          int(size.load.databaseMiB),
        ]),
      ),
    ),
  );
  const { contention } = result;
  const rawContention = contention.variants.find((v) => v.variant === 'raw');
  lines.push(
    '',
    `### Contention: ${contention.writers} processes upserting random tenants of one WAL file (${int(contention.rows)} rows; ${Object.entries(
      contention.pragmas,
    )
      .map(([name, value]) => `${name}=${String(value)}`)
      .join(', ')})`,
    '',
    table(
      ['variant', 'upserts', 'ops/s (all writers)', 'p50 µs', 'p99 µs', 'errors', 'time vs raw', 'p99 vs raw'],
      contention.variants.map((v) => [
        v.variant,
        int(v.ops),
        int(v.opsPerSec),
        fixed(v.p50Us),
        fixed(v.p99Us),
        String(v.errors),
        rawContention ? `${(rawContention.opsPerSec / v.opsPerSec).toFixed(2)}x` : '-',
        rawContention ? `${(v.p99Us / rawContention.p99Us).toFixed(2)}x` : '-',
      ]),
    ),
    '',
    `CPU time per upsert, one writer alone: raw ${fixed(contention.cpuPerUpsertUs.raw)} µs, repo ${fixed(
      contention.cpuPerUpsertUs.repo,
    )} µs. \`raw + repo CPU\` is the raw floor with a busy loop of the difference before each upsert, outside the write lock.`,
    '',
    `Rows afterwards: ${int(contention.rowsAfter)}.`,
  );
  // One plan per kind of engine (the WAL file's is SQLite's; encryption does not change SQL).
  for (const engine of result.engines.filter((e) => !e.encryption && e.engine !== 'sqlite-wal')) {
    const largest = engine.sizes[engine.sizes.length - 1];
    if (largest === undefined) {
      continue;
    }
    lines.push(
      '',
      `### EXPLAIN of the get query (${engine.name}, ${int(largest.rows)} rows)`,
      '',
      'The statement `repo.get` sends, as TypeORM logged it, and its plan:',
      '',
      '```sql',
      largest.explain.repoSql,
      '```',
      '',
      '```text',
      ...largest.explain.repoPlan,
      '```',
      '',
      `The raw floor's plan: \`${largest.explain.rawPlan.join('; ')}\`.`,
    );
  }
  if (result.keepAlive) {
    lines.push('', renderKeepAlive(result.keepAlive));
  }
  if (result.storm) {
    lines.push('', renderStorm(result.storm));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What docs/performance.md shows between its `bench:latest` markers: the machine, the summary table and the
 * targets of `result`. A test renders it from the committed `bench/results/latest.json` and finds
 * it in docs/performance.md verbatim, so the two cannot drift apart.
 */
export function renderReadmeTable(result: BenchResult): string {
  return [
    ...renderMachine(result),
    '',
    renderSummary(result),
    '',
    renderTargetSummary(result),
    '',
    'Every measurement, loading and memory, contention and the query plan: [bench/results/latest.md](../bench/results/latest.md).',
  ].join('\n');
}
