import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { testConfig, withConfig } from './config';

/**
 * Boots `AppModule` in-process on the database `url` names and resolves with why it failed.
 * Boot does not wait for the server unless `env` sets `DATABASE_CONNECT_RETRY_MS`.
 */
export async function bootError(url: string, env: Record<string, string> = {}): Promise<Error> {
  try {
    const config = testConfig({ DATABASE_URL: url, DATABASE_CONNECT_RETRY_MS: '0', ...env });
    const moduleRef = await withConfig(Test.createTestingModule({ imports: [AppModule] }), config).compile();
    await moduleRef.close();
  } catch (error) {
    return error as Error;
  }
  throw new Error(`booted on ${url}, expected a failure`);
}
