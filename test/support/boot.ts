import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';

/** Boots `AppModule` in-process with `DATABASE_URL=url` and resolves with why it failed. */
export async function bootError(url: string): Promise<Error> {
  const savedUrl = process.env.DATABASE_URL;
  process.env.DATABASE_URL = url;
  try {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    await moduleRef.close();
  } catch (error) {
    return error as Error;
  } finally {
    if (savedUrl === undefined) {
      delete process.env.DATABASE_URL;
    } else {
      process.env.DATABASE_URL = savedUrl;
    }
  }
  throw new Error(`booted on ${url}, expected a failure`);
}
