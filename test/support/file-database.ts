import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, TestingModule } from '@nestjs/testing';
import { AtlassianModule } from '../../src/atlassian';
import { Environment } from '../../src/config/environment';
import { DatabaseModule } from '../../src/database/database.module';
import { testConfig, withConfig } from './config';
import { createFreshDatabase } from './server-databases';

/** A fresh database that this test process and worker processes share. */
export interface SharedDatabase {
  /** What worker processes connect to (see `startWorker`): the SQLite file's path, or the server database's URL. */
  target: string;
  /** `DatabaseModule` + `AtlassianModule` connected to {@link target}. */
  moduleRef: TestingModule;
  /** Closes the connection and removes the database. */
  close(): Promise<void>;
}

/** A fresh SQLite file in a temporary folder of its own, opened by this test process. */
export interface FileDatabase extends SharedDatabase {
  /** The file, to hand to worker processes as `DATABASE_PATH`. */
  path: string;
}

/**
 * Creates the file (named after `prefix`) and connects to it through the same modules as the
 * service, configured by `env` (e.g. a key ring) plus the file's path.
 */
export async function openFileDatabase(prefix: string, env: Environment = {}): Promise<FileDatabase> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'agent-core.sqlite');
  const moduleRef = await connectWith({ ...env, DATABASE_PATH: path });
  return {
    path,
    target: path,
    moduleRef,
    close: async () => {
      await moduleRef.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a fresh database on the server of `adminUrl` and connects to it (the migrations run at boot). */
export async function openFreshServerDatabase(adminUrl: string): Promise<SharedDatabase> {
  const database = await createFreshDatabase(adminUrl);
  try {
    const moduleRef = await connectWith({ DATABASE_URL: database.url });
    return {
      target: database.url,
      moduleRef,
      close: async () => {
        await moduleRef.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/** Boots the modules on the configuration of `env` alone; `process.env` is not read. */
function connectWith(env: Environment): Promise<TestingModule> {
  return withConfig(
    Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }),
    testConfig(env),
  ).compile();
}
