import { z } from 'zod';

/**
 * What configuration is read from: `process.env` in the service, or an object the caller hands in
 * (the CLI's own environment, a test's explicit settings).
 */
export type Environment = Readonly<Record<string, string | undefined>>;

/** A variable whose blank value means unset, trimmed otherwise. */
export const optionalText = z
  .string()
  .optional()
  .transform((value) => value?.trim() || undefined);

/**
 * `NODE_ENV`, trimmed and lower-cased: `" Production"` is production. A check of the environment's
 * name must never be defeated by how it was typed, least of all the one that refuses plaintext tokens.
 */
export const nodeEnvironment = z
  .string()
  .optional()
  .transform((value) => value?.trim().toLowerCase() || undefined);

/**
 * `true` is on; `false`, unset or blank is off; anything else (`yes`, `1`, `True`) is refused, so a
 * switch that was meant to be on is never silently off.
 */
export const flag = optionalText
  .refine((value) => value === undefined || value === 'true' || value === 'false', 'must be true or false')
  .transform((value) => value === 'true');

/** A whole number above zero written in decimal, or `fallback` when unset or blank. */
export const positiveInteger = (fallback: number) =>
  optionalText
    .refine((value) => value === undefined || /^[1-9][0-9]*$/.test(value), 'must be a positive integer')
    .transform((value) => (value === undefined ? fallback : Number(value)));

/** A whole number of zero or more written in decimal, or `fallback` when unset or blank. */
export const nonNegativeInteger = (fallback: number) =>
  optionalText
    .refine((value) => value === undefined || /^(0|[1-9][0-9]*)$/.test(value), 'must be a whole number of 0 or more')
    .transform((value) => (value === undefined ? fallback : Number(value)));

/**
 * Reads the variables `schema` declares from `env` (and nothing else), validated and typed.
 *
 * @throws what `toError` makes of the first problem: the variable's name and our own message. Zod's
 *   error itself is never thrown or attached, so no variable's value can reach a message or a log.
 */
export function validateEnvironment<T extends z.ZodType>(
  schema: T,
  env: Environment,
  toError: (variable: string, problem: string) => Error,
): z.output<T> {
  const result = schema.safeParse(env);
  if (result.success) {
    return result.data;
  }
  const [issue] = result.error.issues;
  throw toError(String(issue?.path[0] ?? '(environment)'), issue?.message ?? 'is invalid');
}
