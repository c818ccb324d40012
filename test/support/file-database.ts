import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, TestingModule } from '@nestjs/testing';
import { AtlassianModule } from '../../src/atlassian';
import { DatabaseModule } from '../../src/database/database.module';

/** A fresh SQLite file in a temporary folder of its own, opened by this test process. */
export interface FileDatabase {
  /** The file, to hand to worker processes as `DATABASE_PATH`. */
  path: string;
  /** `DatabaseModule` + `AtlassianModule` connected to {@link path}. */
  moduleRef: TestingModule;
  /** Closes the connection and removes the folder. */
  close(): Promise<void>;
}

/** Creates the file (named after `prefix`) and connects to it through the same modules as the service. */
export async function openFileDatabase(prefix: string): Promise<FileDatabase> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'agent-core.sqlite');
  const savedPath = process.env.DATABASE_PATH;
  process.env.DATABASE_PATH = path;
  try {
    const moduleRef = await Test.createTestingModule({ imports: [DatabaseModule, AtlassianModule] }).compile();
    return {
      path,
      moduleRef,
      close: async () => {
        await moduleRef.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } finally {
    if (savedPath === undefined) {
      delete process.env.DATABASE_PATH;
    } else {
      process.env.DATABASE_PATH = savedPath;
    }
  }
}
