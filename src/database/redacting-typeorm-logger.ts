import { AdvancedConsoleLogger, QueryRunner } from 'typeorm';

/**
 * TypeORM's console query logger without the query parameters, which carry the OAuth tokens
 * (plaintext or sealed). It logs what `logging: true` logs (the SQL, failed and slow queries,
 * schema changes) and replaces the parameters with their count.
 *
 * Every value the repo writes or filters on is a bound parameter, never part of the SQL text,
 * so the SQL itself holds no token.
 */
export class RedactingTypeOrmLogger extends AdvancedConsoleLogger {
  override logQuery(query: string, parameters?: unknown[] | object, queryRunner?: QueryRunner): void {
    super.logQuery(query, redact(parameters), queryRunner);
  }

  override logQueryError(
    error: string,
    query: string,
    parameters?: unknown[] | object,
    queryRunner?: QueryRunner,
  ): void {
    super.logQueryError(error, query, redact(parameters), queryRunner);
  }

  override logQuerySlow(time: number, query: string, parameters?: unknown[] | object, queryRunner?: QueryRunner): void {
    super.logQuerySlow(time, query, redact(parameters), queryRunner);
  }
}

/** Stands in for the parameters in the log: `["4 parameters redacted"]`, or nothing when there were none. */
function redact(parameters: unknown[] | object | undefined): string[] | undefined {
  const count =
    parameters === undefined ? 0 : Array.isArray(parameters) ? parameters.length : Object.keys(parameters).length;
  return count === 0 ? undefined : [`${count} parameter${count === 1 ? '' : 's'} redacted`];
}
