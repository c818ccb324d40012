import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { testConfig, withConfig } from './config';

/** Boots `AppModule` in-process on the database `url` names and resolves with why it failed. */
export async function bootError(url: string): Promise<Error> {
  try {
    const config = testConfig({ DATABASE_URL: url });
    const moduleRef = await withConfig(Test.createTestingModule({ imports: [AppModule] }), config).compile();
    await moduleRef.close();
  } catch (error) {
    return error as Error;
  }
  throw new Error(`booted on ${url}, expected a failure`);
}
