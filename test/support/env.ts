import { randomBytes } from 'node:crypto';

/**
 * Sets (or with `undefined` removes) environment variables for one test and returns the function
 * that puts the previous values back.
 */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
  };
  apply(vars);
  return () => apply(saved);
}

/** A fresh random 32-byte key as `openssl rand -base64 32` prints it. */
export const newTokenKey = (): string => randomBytes(32).toString('base64');
