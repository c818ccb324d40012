import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Command } from 'commander';
import { validateKey } from '../../atlassian/atlassian-oauth-state.validation';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { describeKey, formatSiteLines, formatSummaryLines, summarize } from '../cli-format';

/** Where the local callback listens unless `--port` says otherwise. */
export const DEFAULT_CONNECT_PORT = 8765;
const DEFAULT_TIMEOUT_S = 300;
/**
 * The scopes asked for without `--scope`: one that reaches the platform's sites (a grant with only
 * `read:me` reaches no Jira or Confluence site, and connect would fail with "no site").
 */
const DEFAULT_SCOPES: Readonly<Record<string, readonly string[]>> = {
  jira: ['read:jira-work'],
  confluence: ['read:confluence-content.summary'],
};
const OTHER_PLATFORM_SCOPES = ['read:me'];

function defaultScopes(platform: string): string[] {
  return [...(DEFAULT_SCOPES[platform.toLowerCase()] ?? OTHER_PLATFORM_SCOPES)];
}

interface ConnectOptions {
  scope: string[];
  port?: string;
  timeout?: string;
}

/** The redirect the local callback is waiting for. */
interface Callback {
  /** Resolves with the authorization code of the redirect whose `state` matched. */
  readonly code: Promise<string>;
  /** Answers the browser that brought the code, and stops listening. */
  finish(ok: boolean, text: string): void;
  close(): void;
}

/**
 * `agent-core connect <platform> <tenantId> [--scope ...] [--port N] [--timeout S]`: connects (or
 * reconnects) a tenant without code. It prints Atlassian's consent URL, waits on
 * `http://127.0.0.1:<port>/callback` for the redirect, checks its `state`, and exchanges the code
 * through `AtlassianOauthTokenService.connect`, which stores the tokens and the sites the grant
 * reaches. It prints the sites; a grant that reaches no site of the platform is stored but fails
 * the command (exit 1): "connected" must mean usable. The code and the tokens are never printed.
 */
export function registerConnectCommand(program: Command, cli: CliContext): void {
  program
    .command('connect')
    .description(
      "Connect or reconnect a tenant: prints Atlassian's consent URL, waits for the redirect on http://127.0.0.1:<port>/callback (register it as a callback URL of your Atlassian app), and stores the tokens. Needs ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET.",
    )
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant (cloud id)')
    .option(
      '--scope <scopes...>',
      `scopes to ask for (default read:jira-work for jira, read:confluence-content.summary for confluence, read:me otherwise); offline_access is always added`,
    )
    .option('--port <port>', `where the local callback listens (default ${DEFAULT_CONNECT_PORT})`)
    .option('--timeout <seconds>', `how long to wait for the redirect (default ${DEFAULT_TIMEOUT_S})`)
    .action(async (platform: string, tenantId: string, options: ConnectOptions) => {
      validateKey(platform, tenantId);
      const port = parsePort(options.port);
      const timeoutS = parseTimeout(options.timeout);
      const key = describeKey(platform, tenantId);
      const { stored, sites } = await cli.withStates({ create: true, atlassian: true }, async ({ app }) => {
        const { AtlassianOauthClient, AtlassianOauthTokenService, AtlassianSiteRepo } = await import('../../atlassian');
        const state = randomBytes(32).toString('base64url');
        const redirectUri = `http://127.0.0.1:${port}/callback`;
        const url = app.get(AtlassianOauthClient).authorizationUrl({
          state,
          redirectUri,
          scopes: options.scope ?? defaultScopes(platform),
        });
        const callback = await listen(port, state, timeoutS, (line) => cli.io.stderr.write(`${line}\n`));
        try {
          cli.print([
            `Open this URL in a browser and approve access for ${key}:`,
            url.href,
            `Waiting up to ${timeoutS}s for the redirect to ${redirectUri} ...`,
          ]);
          const code = await callback.code;
          cli.secrets.push(code);
          try {
            const result = await app.get(AtlassianOauthTokenService).connect(platform, tenantId, code, redirectUri);
            const reached = await app.get(AtlassianSiteRepo).list(platform, tenantId);
            callback.finish(
              reached.length > 0,
              reached.length > 0
                ? `agent-core: ${key} is connected. You can close this tab.`
                : `agent-core stored the grant of ${key}, but it reaches no ${platform} site; the terminal says what to do.`,
            );
            return { stored: result, sites: reached };
          } catch (error) {
            callback.finish(false, `agent-core could not connect ${key}; the terminal says why.`);
            throw error;
          }
        } finally {
          callback.close();
        }
      });
      if (sites.length === 0) {
        throw new CliError(
          ExitCode.NotFoundOrConflict,
          `the grant of ${key} is stored, but it reaches no ${platform} site: run connect again and choose a site that has ${platform} on Atlassian's consent page (or ask for a ${platform} scope with --scope)`,
        );
      }
      cli.print([
        `connected ${formatSummaryLines([summarize(stored)], cli.io.now()).join('')}`,
        ...formatSiteLines(sites),
      ]);
    });
}

/**
 * Listens on 127.0.0.1:`port` for `GET /callback`. A redirect whose `state` is not `state` is
 * refused (400) and reported on stderr, and the wait goes on: a stray or forged request must not
 * end it, nor be exchanged. The first matching one resolves `code`; `error=` (consent declined)
 * and the timeout reject it.
 */
async function listen(
  port: number,
  state: string,
  timeoutS: number,
  report: (line: string) => void,
): Promise<Callback> {
  let resolveCode: (code: string) => void = () => undefined;
  let rejectCode: (error: Error) => void = () => undefined;
  const code = new Promise<string>((resolve, reject) => {
    resolveCode = resolve;
    rejectCode = reject;
  });
  code.catch(() => undefined); // handled by the caller's await; no unhandled rejection before it awaits
  let pending: ServerResponse | undefined;
  let settled = false;
  const expected = Buffer.from(state);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      return answer(res, 404, 'Not found.');
    }
    const given = Buffer.from(url.searchParams.get('state') ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      report('agent-core: refused a redirect whose state does not match this connect (nothing stored); still waiting');
      return answer(
        res,
        400,
        'This redirect does not belong to the waiting agent-core connect: refused, nothing stored.',
      );
    }
    if (settled) {
      return answer(res, 409, 'agent-core has already received this redirect.');
    }
    settled = true;
    const error = url.searchParams.get('error');
    const received = url.searchParams.get('code');
    if (error !== null || !received) {
      const reason = error !== null && /^[a-z_]{1,64}$/.test(error) ? error : 'no code';
      answer(res, 400, 'agent-core did not receive an authorization code: nothing stored.');
      return rejectCode(
        new CliError(
          ExitCode.NotFoundOrConflict,
          `the redirect brought no authorization code (${reason}); nothing stored`,
        ),
      );
    }
    pending = res;
    resolveCode(received);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new CliError(
          ExitCode.Unavailable,
          `cannot listen on 127.0.0.1:${port} (${error.code ?? 'error'}); choose another port with --port`,
        ),
      ),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  const timer = setTimeout(() => {
    settled = true;
    rejectCode(
      new CliError(
        ExitCode.NotFoundOrConflict,
        `no redirect reached http://127.0.0.1:${port}/callback within ${timeoutS}s; nothing stored. Run connect again and approve in time`,
      ),
    );
  }, timeoutS * 1000);
  return {
    code,
    finish: (ok, text) => {
      if (pending) {
        answer(pending, ok ? 200 : 502, text);
        pending = undefined;
      }
    },
    close: () => {
      clearTimeout(timer);
      server.close();
      server.closeAllConnections();
    },
  };
}

function answer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${text}\n`);
}

function parsePort(value: string | undefined): number {
  if (value === undefined) {
    return DEFAULT_CONNECT_PORT;
  }
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65_535) {
    throw new CliError(ExitCode.Usage, '--port must be a port number from 1 to 65535');
  }
  return Number(value);
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) {
    return DEFAULT_TIMEOUT_S;
  }
  if (!/^[1-9]\d{0,5}$/.test(value)) {
    throw new CliError(ExitCode.Usage, '--timeout must be a whole number of seconds, e.g. 300');
  }
  return Number(value);
}
