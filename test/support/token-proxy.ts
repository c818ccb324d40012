import { IncomingMessage, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

/** One answer of the token endpoint as it passed the proxy: its grant type and status (never a token). */
export interface ProxiedAnswer {
  grantType: string;
  status: number;
}

/** What a test can make the proxy do with the next refresh answer. */
export type RefreshAnswerMode =
  /** Pass it on as it came. */
  | 'pass'
  /** Hold it back until {@link TokenProxy.release} (the client times out meanwhile, its socket closes). */
  | 'hold';

/**
 * A 127.0.0.1 HTTP proxy of the test's own in front of the test authorization server's token
 * endpoint: it forwards each request, can run a hook just before a refresh answer passes (to freeze
 * the database at that moment) or hold a refresh answer back, and can emulate Atlassian's grace
 * window: a refresh token that was answered once and presented again within `graceMs` gets the same
 * answer again (from the proxy, without reaching the strict server, which would revoke the grant).
 */
export interface TokenProxy {
  /** Point `ATLASSIAN_OAUTH_TOKEN_URL` here. */
  readonly tokenUrl: string;
  /** Every answer that reached the proxy from the server, in order. */
  readonly answers: ProxiedAnswer[];
  /** Refresh requests answered by the grace window emulation (not forwarded). */
  graceAnswers: number;
  /** What to do with the next refresh answer; back to `pass` after it. */
  nextRefresh(mode: RefreshAnswerMode, beforePassing?: () => void | Promise<void>): void;
  /** Lets a held answer go (to a client that may have given up). */
  release(): void;
  /** Emulate a grace window of `graceMs` for refresh tokens answered through the proxy (0: off). */
  graceMs: number;
  close(): Promise<void>;
}

/** Starts a {@link TokenProxy} in front of `target` (the server's token endpoint URL). */
export async function startTokenProxy(target: string): Promise<TokenProxy> {
  let mode: RefreshAnswerMode = 'pass';
  let hook: (() => void | Promise<void>) | undefined;
  let releaseHeld: (() => void) | undefined;
  const answered = new Map<string, { status: number; headers: Record<string, string>; body: string; at: number }>();
  const proxy: TokenProxy = {
    tokenUrl: '',
    answers: [],
    graceAnswers: 0,
    graceMs: 0,
    nextRefresh(next, beforePassing) {
      mode = next;
      hook = beforePassing;
    },
    release() {
      releaseHeld?.();
      releaseHeld = undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        proxy.release();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const form = new URLSearchParams(body);
      const grantType = form.get('grant_type') ?? '';
      const refreshToken = grantType === 'refresh_token' ? form.get('refresh_token') : null;
      const earlier = refreshToken === null ? undefined : answered.get(refreshToken);
      if (earlier && proxy.graceMs > 0 && Date.now() - earlier.at < proxy.graceMs) {
        proxy.graceAnswers += 1;
        res.writeHead(earlier.status, earlier.headers);
        res.end(earlier.body);
        return;
      }
      const upstream = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded' },
        body,
      });
      const answer = {
        status: upstream.status,
        headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' },
        body: await upstream.text(),
        at: Date.now(),
      };
      proxy.answers.push({ grantType, status: answer.status });
      if (refreshToken !== null && answer.status === 200) {
        answered.set(refreshToken, answer);
      }
      if (grantType === 'refresh_token') {
        const [current, before] = [mode, hook];
        mode = 'pass';
        hook = undefined;
        if (current === 'hold') {
          await new Promise<void>((resolve) => (releaseHeld = resolve));
        }
        await before?.();
      }
      if (!res.destroyed) {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      }
    })().catch(() => {
      if (!res.headersSent) {
        res.writeHead(502);
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  (proxy as { tokenUrl: string }).tokenUrl = `http://127.0.0.1:${port}/token`;
  return proxy;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
