import { Socket } from 'node:net';
import { SERVERS_UNDER_TEST, ServerUnderTest, missingServerFails, serverTestUrl } from './server-databases';

const PROBE_TIMEOUT_MS = 3_000;

/** Resolves when something accepts a TCP connection on `host:port`, rejects otherwise. */
function probe(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.setTimeout(PROBE_TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.destroy();
      resolve();
    });
  });
}

/** What the run does with `server`'s suites; throws when the server is named but nothing answers. */
async function plan(server: ServerUnderTest): Promise<string> {
  const url = serverTestUrl(server);
  if (!url) {
    return missingServerFails()
      ? `${server.label} suites: FAIL, ${server.variable} is not set and CI=true requires every engine`
      : `${server.label} suites: skipped, set ${server.variable} to run them`;
  }
  // Only the host and port are printed: the URL may hold a password.
  const { hostname, port: named } = new URL(url);
  const port = Number(named) || (server.type === 'postgres' ? 5432 : 3306);
  const address = `${hostname}:${port}`;
  await probe(hostname.replace(/^\[|\]$/g, ''), port).catch((error: Error) => {
    throw new Error(
      `${server.variable} names ${address}, but it cannot be reached (${error.message}): start the server or unset the variable`,
    );
  });
  return `${server.label} suites: on ${address} (${server.variable})`;
}

/**
 * Jest's global setup: prints, once before the run, which server suites run and which are skipped
 * and why, and fails the whole run at once when a named server cannot be reached (otherwise every
 * suite on it would fail one by one).
 */
export default async function serverSuitesNotice(): Promise<void> {
  const lines = await Promise.all(SERVERS_UNDER_TEST.map(plan));
  process.stdout.write(`\n${lines.join('\n')}\n`);
}
