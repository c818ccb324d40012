import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, TestingModule } from '@nestjs/testing';
import { AtlassianModule } from '../../src/atlassian';
import { DatabaseModule } from '../../src/database/database.module';
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

/** Creates the file (named after `prefix`) and connects to it through the same modules as the service. */
export async function openFileDatabase(prefix: string): Promise<FileDatabase> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'agent-core.sqlite');
  const moduleRef = await connectWith('DATABASE_PATH', path);
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
    const moduleRef = await connectWith('DATABASE_URL', database.url);
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

/** Boots the modules with only `variable` of the two database variables set, then restores the environment. */
async function connectWith(variable: 'DATABASE_PATH' | 'DATABASE_URL', value: string): Promise<TestingModule> {
  const saved = { DATABASE_PATH: process.env.DATABASE_PATH, DATABASE_URL: process.env.DATABASE_URL };
  delete process.env.DATABASE_PATH;
  delete process.env.DATABASE_URL;
  process.env[variable] = value;
  try {
    return await Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }).compile();
  } finally {
    for (const [name, previous] of Object.entries(saved)) {
      if (previous === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = previous;
      }
    }
  }
}
