import 'reflect-metadata';
import { DataSource, MigrationExecutor } from 'typeorm';

/** What `npm run migration:run` / `migration:revert` do. */
export type MigrationCommand = 'run' | 'revert';

/**
 * Applies every pending migration (`run`) or reverts the last applied one (`revert`) on
 * `dataSource`, as the TypeORM CLI does, and reports each migration applied or reverted in one
 * line, or that there was nothing to do: the TypeORM CLI prints nothing on success, so the
 * operator had to query the migrations table to know what happened.
 *
 * @returns the lines to print, one per migration, or one saying there was nothing to do.
 */
export async function runMigrationCommand(command: MigrationCommand, dataSource: DataSource): Promise<string[]> {
  await dataSource.initialize();
  try {
    if (command === 'run') {
      const applied = await dataSource.runMigrations();
      return applied.length === 0
        ? ['nothing to do: every migration is already applied']
        : applied.map((migration) => `applied ${migration.name}`);
    }
    const executor = new MigrationExecutor(dataSource);
    const before = await executor.getExecutedMigrations();
    await dataSource.undoLastMigration();
    const after = new Set((await executor.getExecutedMigrations()).map((migration) => migration.name));
    const reverted = before.filter((migration) => !after.has(migration.name));
    return reverted.length === 0
      ? ['nothing to do: no migration is applied']
      : reverted.map((migration) => `reverted ${migration.name}`);
  } finally {
    if (dataSource.isInitialized) {
      await dataSource.destroy();
    }
  }
}

/** `node migration-cli.js run|revert`: on the data source of `data-source.ts` (`DATABASE_URL`). */
async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  if (command !== 'run' && command !== 'revert') {
    process.stderr.write('usage: migration-cli run|revert\n');
    return 2;
  }
  try {
    // Loaded here: data-source.ts reads and checks DATABASE_URL as it loads, and its error is reported below.
    const { default: dataSource } = await import('./data-source');
    const lines = await runMigrationCommand(command, dataSource);
    process.stdout.write(lines.map((line) => `${line}\n`).join(''));
    return 0;
  } catch (error) {
    process.stderr.write(`migration:${command} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
