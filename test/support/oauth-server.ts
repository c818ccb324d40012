import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AtlassianConfig } from '../../src/config/atlassian.config';
import { atlassianSettings } from './config';

const SERVER = join(__dirname, 'oauth-server', 'server.mjs');

/** What the server counted since it started (or since {@link OauthTestServer.resetStats}). */
export interface OauthServerStats {
  /** POSTs that reached the token endpoint, whatever their answer. */
  tokenRequests: number;
  tokenRequestsByGrantType: Record<string, number>;
  /** Successful token responses per grant type. */
  issued: { authorizationCode: number; refreshToken: number };
  /** Refresh tokens presented again after they were rotated: each one revoked its grant. */
  refreshTokenReuses: number;
  /** Grants the server revoked itself (a reused refresh token or authorization code). */
  grantsRevoked: number;
  /** Token endpoint errors by OAuth error code. */
  errors: Record<string, number>;
  /** GETs that reached accessible-resources, whatever their answer. */
  accessibleResourcesRequests: number;
}

/** One entry of accessible-resources, as Atlassian writes it (the tests may write anything). */
export interface TestResource {
  id: string;
  url: string;
  name?: string;
  scopes?: string[];
  avatarUrl?: string;
}

/** A points budget of the gateway stand-in: `points` requests per fixed window of `windowMs`. */
export interface GatewayBudget {
  points: number;
  windowMs: number;
}

/** One scripted answer of the gateway stand-in, given (after the token check) to the next requests whose path contains `match`. */
export interface GatewayScriptEntry {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** How many requests get it (default 1). */
  times?: number;
  match?: string;
  /** Close the connection without an answer (a network error). */
  drop?: boolean;
  /** Answer this much later. */
  delayMs?: number;
}

/** The settings of the REST gateway stand-in (server.mjs); each call replaces them all and clears the counts. */
export interface GatewaySettings {
  budget?: { app?: GatewayBudget; tenant?: GatewayBudget; burstPerSecond?: number };
  /** Requests of a pause counted as `sentDuringPause` only from this long after it began. */
  graceMs?: number;
  script?: GatewayScriptEntry[];
}

/** What the gateway stand-in counted since its settings were last set. */
export interface GatewayStats {
  /** Requests to `/ex/...`. */
  requests: number;
  byStatus: Record<string, number>;
  /** 2xx answers. */
  answered: number;
  /** 429 answers of a budget. */
  limited: number;
  /** Requests received during an app or tenant pause more than `graceMs` after it began. */
  sentDuringPause: number;
  sentDuringPauseAll: number;
  pauses: { scope: 'app' | 'tenant'; key: string; from: number; until: number }[];
  /** GETs of accessible-resources (whose list {@link OauthTestServer.setAccessibleResources} sets). */
  accessibleResources: number;
  /** Requests to `/ex/...` by the token they carried: live, dead (unknown, expired, revoked), none. */
  authorizations: { live: number; dead: number; none: number };
  /** The most requests of one cloudId the gateway was answering at once. */
  maxInFlight: Record<string, number>;
}

/** A grant as a finished consent leaves it: its id and the authorization code to exchange. */
export interface MintedGrant {
  grantId: string;
  code: string;
}

/** The tokens of a code exchanged at the server, as `AtlassianOauthTokens`. */
export interface ExchangedTokens {
  grantId: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
}

/** A running oidc-provider child process, configured like Atlassian's token endpoint (see server.mjs). */
export interface OauthTestServer {
  issuer: string;
  /** Point `ATLASSIAN_OAUTH_TOKEN_URL` here. */
  tokenUrl: string;
  /** Point `ATLASSIAN_OAUTH_AUTHORIZE_URL` here (oidc-provider's authorization endpoint). */
  authorizeUrl: string;
  /** Point `ATLASSIAN_API_BASE_URL` here: it serves `/oauth/token/accessible-resources`. */
  apiBaseUrl: string;
  clientId: string;
  /** Random per server; never print it. */
  clientSecret: string;
  /** The first registered redirect URI, the default of {@link mintGrant}. */
  redirectUri: string;
  /** The Atlassian client settings that point at this server (for `ATLASSIAN_OAUTH_SETTINGS`). */
  settings: AtlassianConfig;
  /** The same as the environment variables a service or the CLI reads (for a child process). */
  env: Record<
    | 'ATLASSIAN_CLIENT_ID'
    | 'ATLASSIAN_CLIENT_SECRET'
    | 'ATLASSIAN_OAUTH_TOKEN_URL'
    | 'ATLASSIAN_OAUTH_AUTHORIZE_URL'
    | 'ATLASSIAN_API_BASE_URL',
    string
  >;
  /** Replaces the REST gateway stand-in's (`/ex/...` under {@link apiBaseUrl}) settings and clears its counts. */
  configureGateway(settings?: GatewaySettings): Promise<void>;
  gatewayStats(): Promise<GatewayStats>;
  stats(): Promise<OauthServerStats>;
  tokenRequests(): Promise<number>;
  resetStats(): Promise<void>;
  /** A grant and its authorization code, as if a user had just consented. */
  mintGrant(options?: { scope?: string; redirectUri?: string; accountId?: string }): Promise<MintedGrant>;
  /** A fresh refresh token of an existing grant, without a token request. */
  mintRefreshToken(grantId: string): Promise<string>;
  /** A grant whose code has been exchanged at the token endpoint (counted as one token request). */
  connectedGrant(options?: { scope?: string }): Promise<ExchangedTokens>;
  /**
   * Sets what accessible-resources answers for the tokens of `grantId` (for every grant without a
   * list of its own when omitted); `null` removes the list. Without any list it answers one site,
   * https://default.atlassian.net, with the token's scopes.
   */
  setAccessibleResources(resources: unknown[] | null, grantId?: string): Promise<void>;
  /** Revokes the grant and all its tokens, as a customer removing the app does. */
  revokeGrant(grantId: string): Promise<void>;
  /** Stops the process (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

export interface OauthTestServerOptions {
  /** Lifetime of issued access tokens (`expires_in`), default 3600. */
  accessTokenTtlSeconds?: number;
  /** Registered redirect URIs; the first one is the default. */
  redirectUris?: string[];
  /** Refuse an authorization request without a PKCE S256 challenge, as `ATLASSIAN_OAUTH_PKCE=true` expects. */
  requirePkce?: boolean;
}

/**
 * Starts test/support/oauth-server/server.mjs as `node server.mjs` on a free port of 127.0.0.1 and
 * resolves once it listens. The client secret travels in the child's environment, never its argv.
 * Call `stop()` in `afterAll`/`afterEach`.
 */
export async function startOauthServer(options: OauthTestServerOptions = {}): Promise<OauthTestServer> {
  const clientId = `agent-core-test-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const redirectUris = options.redirectUris ?? ['http://127.0.0.1:9/oauth/callback'];
  const child = spawn(process.execPath, [SERVER], {
    env: {
      PATH: process.env.PATH,
      OAUTH_SERVER_CLIENT_ID: clientId,
      OAUTH_SERVER_CLIENT_SECRET: clientSecret,
      OAUTH_SERVER_REDIRECT_URIS: redirectUris.join(' '),
      OAUTH_SERVER_ACCESS_TOKEN_TTL_S: String(options.accessTokenTtlSeconds ?? 3600),
      OAUTH_SERVER_REQUIRE_PKCE: String(options.requirePkce ?? false),
    },
  });
  const ready = await waitForReady(child);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const admin = async <T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> => {
    const response = await fetch(`${ready.issuer}/__test/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`oauth test server: ${method} ${path} answered ${response.status}`);
    }
    return (await response.json()) as T;
  };

  const server: OauthTestServer = {
    ...ready,
    apiBaseUrl: ready.issuer,
    clientId,
    clientSecret,
    redirectUri: redirectUris[0] ?? '',
    settings: atlassianSettings({
      clientId,
      clientSecret,
      tokenUrl: ready.tokenUrl,
      authorizeUrl: ready.authorizeUrl,
      apiBaseUrl: ready.issuer,
    }),
    env: {
      ATLASSIAN_CLIENT_ID: clientId,
      ATLASSIAN_CLIENT_SECRET: clientSecret,
      ATLASSIAN_OAUTH_TOKEN_URL: ready.tokenUrl,
      ATLASSIAN_OAUTH_AUTHORIZE_URL: ready.authorizeUrl,
      ATLASSIAN_API_BASE_URL: ready.issuer,
    },
    configureGateway: async (settings = {}) => {
      await admin('POST', 'gateway', settings);
    },
    gatewayStats: () => admin<GatewayStats>('GET', 'gateway/stats'),
    stats: () => admin<OauthServerStats>('GET', 'stats'),
    tokenRequests: async () => (await admin<OauthServerStats>('GET', 'stats')).tokenRequests,
    resetStats: async () => {
      await admin('POST', 'stats/reset', {});
    },
    mintGrant: (grant = {}) => admin<MintedGrant>('POST', 'grants', grant),
    mintRefreshToken: async (grantId) =>
      (await admin<{ refreshToken: string }>('POST', `grants/${encodeURIComponent(grantId)}/refresh-token`, {}))
        .refreshToken,
    connectedGrant: async (grant = {}) => {
      const { grantId, code } = await server.mintGrant(grant);
      const response = await fetch(ready.tokenUrl, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: server.redirectUri,
          client_id: clientId,
          client_secret: clientSecret,
        }),
      });
      if (!response.ok) {
        throw new Error(`oauth test server: the code exchange answered ${response.status}`);
      }
      const body = (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
      return {
        grantId,
        accessToken: body.access_token,
        refreshToken: body.refresh_token,
        expiresAt: new Date(Date.now() + body.expires_in * 1000),
      };
    },
    setAccessibleResources: async (resources, grantId) => {
      await admin('POST', 'accessible-resources', { resources, grantId });
    },
    revokeGrant: async (grantId) => {
      await admin('POST', `grants/${encodeURIComponent(grantId)}/revoke`, {});
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
      }
      await exited;
    },
  };
  return server;
}

function waitForReady(
  child: ChildProcessWithoutNullStreams,
): Promise<{ issuer: string; tokenUrl: string; authorizeUrl: string }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const onData = (chunk: Buffer): void => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{"event":"ready"'));
      if (line) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(JSON.parse(line) as { issuer: string; tokenUrl: string; authorizeUrl: string });
      }
    };
    child.stdout.on('data', onData);
    child.once('error', reject);
    child.once('close', (code, signal) =>
      reject(new Error(`oauth test server exited (${code ?? signal}) before it listened: ${stderr.trim()}`)),
    );
  });
}
