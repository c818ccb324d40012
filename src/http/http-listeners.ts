import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { bearerToken, digest } from '../atlassian/consent/internal-token.guard';
import { HttpConfig } from '../config/http.config';

/** What the public listener (`PORT`) serves: the pages a customer's browser opens, nothing else. */
export const PUBLIC_PATHS: readonly string[] = ['/atlassian/authorize', '/atlassian/callback'];

/** The one route that takes a body, on the internal listener only. */
export const AUTHORIZATIONS_PATH = '/atlassian/authorizations';

/** The largest body `POST /atlassian/authorizations` accepts. */
export const INTERNAL_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * The limits of both listeners, so that a slow or greedy client cannot hold the service: the
 * headers within 10 s, the whole request within 30 s, an idle kept-alive connection closed after
 * 5 s, at most 1,000 connections per listener. Node checks them every second.
 */
export const LISTENER_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
  checkIntervalMs: 1_000,
} as const;

/** HSTS's max-age when the public URL is https: 180 days. */
const HSTS_MAX_AGE_S = 180 * 24 * 3600;

const INTERNAL = Symbol('internal listener');

type Marked = IncomingMessage & { [INTERNAL]?: true };

type Next = (error?: unknown) => void;

/** The request's path, without its query. */
function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] ?? '/';
}

/** The two listening servers of `npm start`. */
export interface HttpListeners {
  readonly publicServer: Server;
  readonly internalServer: Server;
  readonly publicPort: number;
  readonly internalPort: number;
  /** Stops accepting on both, closes idle connections as they idle, and resolves once every request in flight has finished. */
  close(): Promise<void>;
}

/**
 * Installs what both listeners share, before Nest registers its routes (call it right after
 * `NestFactory.create(..., { bodyParser: false })`):
 * - `helmet`'s headers on every answer (HSTS only when `AGENT_CORE_PUBLIC_URL` is https);
 * - each listener serves its own routes only: the public one `/atlassian/authorize` and
 *   `/atlassian/callback`, the internal one `POST /atlassian/authorizations`, `/health/*` and
 *   `/metrics`; anything else is a 404 without reaching Nest;
 * - the bearer token of `POST /atlassian/authorizations` is checked before its body is read
 *   (401 with `WWW-Authenticate: Bearer`), then the body is parsed as JSON up to 16 KiB; any other
 *   request that carries a body is refused (413) unread;
 * - a body that is too large, malformed or cut short is a 4xx logged as one line, never an ERROR
 *   with a stack trace.
 */
export function configureHttp(app: NestExpressApplication, http: HttpConfig): void {
  const logger = new Logger('HttpListeners');
  const answer = (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify({ statusCode: status, message }));
  };
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, message: string, headers = {}) => {
    logger.warn(`Refused ${req.method ?? ''} ${pathOf(req)}: ${message} (${status})`);
    answer(res, status, message, { connection: 'close', ...headers });
  };
  app.use(
    helmet({
      hsts: http.publicUrl?.protocol === 'https:' ? { maxAge: HSTS_MAX_AGE_S, includeSubDomains: true } : false,
    }),
  );
  app.use((req: IncomingMessage, res: ServerResponse, next: Next) => {
    const path = pathOf(req);
    if ((req as Marked)[INTERNAL] === true ? isInternalPath(path) : PUBLIC_PATHS.includes(path)) {
      return next();
    }
    answer(res, 404, 'Not Found');
  });
  const expected = http.internalToken === undefined ? undefined : digest(http.internalToken);
  app.use((req: IncomingMessage, res: ServerResponse, next: Next) => {
    if (pathOf(req) === AUTHORIZATIONS_PATH && req.method === 'POST' && expected !== undefined) {
      const presented = bearerToken(req.headers.authorization, expected);
      if (presented !== 'valid') {
        return refuse(req, res, 401, `A valid internal bearer token is required (${presented} bearer token)`, {
          'www-authenticate': 'Bearer',
        });
      }
      return next();
    }
    if (hasBody(req)) {
      return refuse(req, res, 413, 'This route accepts no request body');
    }
    next();
  });
  // Reached only by an authenticated POST /atlassian/authorizations, or a request without a body.
  app.useBodyParser('json', { limit: INTERNAL_BODY_LIMIT_BYTES });
  app.use((error: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => {
    const status = statusOf(error);
    if (status === undefined || res.headersSent) {
      return next(error);
    }
    refuse(req, res, status, bodyProblem(error, status));
  });
}

/**
 * Initialises `app` and serves it on two listeners with {@link LISTENER_LIMITS}: the public one on
 * `PORT` (every interface) and the internal one on `INTERNAL_HOST:INTERNAL_PORT`.
 */
export async function listenTwice(app: NestExpressApplication, http: HttpConfig): Promise<HttpListeners> {
  await app.init();
  const handler = app.getHttpAdapter().getInstance() as (req: IncomingMessage, res: ServerResponse) => void;
  const publicServer = limitedServer(handler);
  const internalServer = limitedServer((req, res) => {
    (req as Marked)[INTERNAL] = true;
    handler(req, res);
  });
  await listen(publicServer, http.port);
  try {
    await listen(internalServer, http.internalPort, http.internalHost);
  } catch (error) {
    publicServer.close();
    throw error;
  }
  return {
    publicServer,
    internalServer,
    publicPort: (publicServer.address() as AddressInfo).port,
    internalPort: (internalServer.address() as AddressInfo).port,
    close: () => Promise.all([publicServer, internalServer].map(closeGently)).then(() => undefined),
  };
}

function limitedServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(
    {
      headersTimeout: LISTENER_LIMITS.headersTimeoutMs,
      requestTimeout: LISTENER_LIMITS.requestTimeoutMs,
      keepAliveTimeout: LISTENER_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: LISTENER_LIMITS.checkIntervalMs,
    },
    handler,
  );
  server.maxConnections = LISTENER_LIMITS.maxConnections;
  return server;
}

function listen(server: Server, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** `server.close()` closes the connections idle when it is called; the others are closed as they idle. */
function closeGently(server: Server): Promise<void> {
  if (!server.listening) {
    return Promise.resolve();
  }
  const idle = setInterval(() => server.closeIdleConnections(), 50);
  return new Promise<void>((resolve) => server.close(() => resolve())).finally(() => clearInterval(idle));
}

function isInternalPath(path: string): boolean {
  return path === AUTHORIZATIONS_PATH || path === '/metrics' || path.startsWith('/health/');
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

function bodyProblem(error: unknown, status: number): string {
  switch ((error as { type?: unknown }).type) {
    case 'entity.too.large':
      return `The body is larger than ${INTERNAL_BODY_LIMIT_BYTES / 1024} KiB`;
    case 'entity.parse.failed':
      return 'The body is not valid JSON';
    case 'request.aborted':
      return 'The body was cut short';
    default:
      return status === 415 ? 'The body must be JSON in UTF-8' : 'The body could not be read';
  }
}
