import { QueryFailedError } from 'typeorm';

/** SQLSTATE / driver codes for a unique-constraint violation, per supported driver. */
const UNIQUE_VIOLATION_CODES = new Set([
  'SQLITE_CONSTRAINT_UNIQUE', // better-sqlite3
  'SQLITE_CONSTRAINT_PRIMARYKEY', // better-sqlite3
  '23505', // PostgreSQL unique_violation
  'ER_DUP_ENTRY', // MySQL / MariaDB 1062
]);

/** True when `error` is the database refusing a row that breaks a unique constraint. */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) {
    return false;
  }
  const { code } = error.driverError as { code?: unknown };
  return typeof code === 'string' && UNIQUE_VIOLATION_CODES.has(code);
}
