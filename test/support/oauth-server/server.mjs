/**
 * A real OAuth 2.0 authorization server (panva's oidc-provider) configured like Atlassian's 3LO
 * token endpoint, but stricter: every refresh rotates the refresh token, and a rotated-past refresh
 * token used again revokes the whole grant at once (Atlassian allows a 10-minute grace window).
 * The one client authenticates with `client_secret_post`, as Atlassian's docs show.
 *
 * Started by test/support/oauth-server.ts as `node server.mjs`. Everything secret comes from the
 * environment, never argv: OAUTH_SERVER_CLIENT_ID, OAUTH_SERVER_CLIENT_SECRET,
 * OAUTH_SERVER_REDIRECT_URIS (space separated), OAUTH_SERVER_ACCESS_TOKEN_TTL_S, and
 * OAUTH_SERVER_REQUIRE_PKCE=true to refuse an authorization request without a PKCE S256 challenge
 * (a code issued with one is then exchanged only with its verifier). It listens on a
 * free port of 127.0.0.1 and prints one line `{"event":"ready","issuer":...}` on stdout.
 *
 * Besides oidc-provider's own endpoints it serves a test-only admin API under /__test/ (JSON):
 * - POST /__test/grants {accountId?, scope?, redirectUri?} mints a grant and an authorization code
 *   for it, as a finished consent would: {grantId, code}.
 * - POST /__test/grants/<grantId>/refresh-token mints a refresh token of that grant: {refreshToken}.
 * - POST /__test/grants/<grantId>/revoke revokes the grant and every token of it, as a customer
 *   removing the app's access does.
 * - GET /__test/stats: {tokenRequests, tokenRequestsByGrantType, issued, refreshTokenReuses,
 *   grantsRevoked, errors, accessibleResourcesRequests}, counted since start (or the last POST
 *   /__test/stats/reset).
 * - POST /__test/accessible-resources {resources, grantId?} sets what GET
 *   /oauth/token/accessible-resources answers for that grant's tokens (or, without grantId, for
 *   every grant without a list of its own); `resources: null` removes the list again.
 *
 * GET /oauth/token/accessible-resources stands in for Atlassian's
 * (https://api.atlassian.com/oauth/token/accessible-resources): it takes the access token as a
 * bearer token, checks it against this server's own token store (401 for a missing, unknown,
 * expired or revoked one) and answers the list the test set. Without one it answers one site,
 * https://default.atlassian.net, whose scopes are the token's (offline_access and openid left out).
 *
 * It also stands in for Atlassian's REST gateway (api.atlassian.com), at the same origin:
 * - /ex/{platform}/{cloudId}/...: bearer tokens checked against this server's own token store. An
 *   unknown or revoked token answers as Atlassian's gateway does: 404 on a `/rest/api/2/` path, 403
 *   on a `/1.0/` path, 401 elsewhere. Then a points budget (1 point a request): per app
 *   (`jira-quota-global-based`), per tenant = cloudId (`jira-quota-tenant-based`), per tenant,
 *   method and path and second (`jira-burst-based`), each a fixed window answering 429 with
 *   `Retry-After` (whole seconds, rounded up), `RateLimit-Reason` and `X-RateLimit-Reset`, and
 *   `X-RateLimit-NearLimit: true` on answers while less than 20% is left. Then scripted answers
 *   (POST /__test/gateway {script: [{status, headers?, body?, times?, match?, drop?, delayMs?}]}), then a tiny
 *   Jira: GET .../myself; POST .../issue; GET/PUT/DELETE .../issue/{key} (a real 404 with
 *   `errorMessages` for a missing issue); GET .../echo answers the query it got.
 * - POST /__test/gateway {budget?: {app?: {points, windowMs}, tenant?: {points, windowMs},
 *   burstPerSecond?}, graceMs?, script?} replaces the gateway's settings and clears its counts.
 *   GET /__test/gateway/stats: {requests, byStatus, answered, limited, sentDuringPause,
 *   sentDuringPauseAll, pauses, accessibleResources, authorizations, maxInFlight (per cloudId)}:
 *   `sentDuringPause` counts requests received during an app or tenant pause more than `graceMs`
 *   after it began (the time every caller needs to learn of it), `sentDuringPauseAll` all of them;
 *   `accessibleResources` counts the GETs of accessible-resources since the gateway's settings
 *   were last set (the sites come from POST /__test/accessible-resources above).
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const clientId = process.env.OAUTH_SERVER_CLIENT_ID;
const clientSecret = process.env.OAUTH_SERVER_CLIENT_SECRET;
if (!clientId || !clientSecret) {
  process.stderr.write('OAUTH_SERVER_CLIENT_ID and OAUTH_SERVER_CLIENT_SECRET must be set\n');
  process.exit(2);
}
const redirectUris = (process.env.OAUTH_SERVER_REDIRECT_URIS || 'http://127.0.0.1/callback').split(' ');
const accessTokenTtl = Number(process.env.OAUTH_SERVER_ACCESS_TOKEN_TTL_S || 3600);
const requirePkce = process.env.OAUTH_SERVER_REQUIRE_PKCE === 'true';

/** Atlassian's granular and classic scopes that the tests ask for, and `offline_access`. */
const SCOPES = [
  'openid',
  'offline_access',
  'read:me',
  'read:jira-work',
  'write:jira-work',
  'read:confluence-content.all',
];

const stats = newStats();
function newStats() {
  return {
    tokenRequests: 0,
    tokenRequestsByGrantType: {},
    issued: { authorizationCode: 0, refreshToken: 0 },
    refreshTokenReuses: 0,
    grantsRevoked: 0,
    errors: {},
    accessibleResourcesRequests: 0,
  };
}

/** What accessible-resources answers: per grant id, and for the grants without a list of their own. */
const resourcesByGrant = new Map();
let defaultResources = null;

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: redirectUris,
    },
  ],
  scopes: SCOPES,
  // Atlassian rotates on every refresh; this server also revokes the grant at the first reuse.
  rotateRefreshToken: true,
  ttl: { AccessToken: accessTokenTtl, AuthorizationCode: 600, RefreshToken: 90 * 24 * 3600, Grant: 365 * 24 * 3600 },
  pkce: { required: () => requirePkce },
  extraParams: ['audience'],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['oauth-server-test-cookie-key'] },
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
});
provider.proxy = false;

provider.on('grant.success', (ctx) => {
  const type = ctx.oidc.params.grant_type;
  if (type === 'authorization_code') {
    stats.issued.authorizationCode += 1;
  } else if (type === 'refresh_token') {
    stats.issued.refreshToken += 1;
  }
});
provider.on('grant.error', (_ctx, error) => {
  stats.errors[error.error] = (stats.errors[error.error] ?? 0) + 1;
  if (error.error_detail === 'refresh token already used') {
    stats.refreshTokenReuses += 1;
  }
});
provider.on('grant.revoked', () => {
  stats.grantsRevoked += 1;
});

const tokenPath = new URL(issuer + '/token').pathname;
const oidcCallback = provider.callback();

/** The stand-in for Atlassian's REST gateway: its settings and counts (see the header). */
const gateway = newGateway({});
function newGateway(settings) {
  return {
    budget: settings.budget ?? {},
    graceMs: settings.graceMs ?? 0,
    script: (settings.script ?? []).map((entry) => ({ ...entry, times: entry.times ?? 1 })),
    windows: new Map(),
    issues: new Map(),
    nextIssue: 1,
    stats: {
      requests: 0,
      byStatus: {},
      answered: 0,
      limited: 0,
      sentDuringPause: 0,
      sentDuringPauseAll: 0,
      pauses: [],
      accessibleResources: 0,
      authorizations: { live: 0, dead: 0, none: 0 },
      maxInFlight: {},
    },
    inFlight: {},
  };
}

/** The token's record when it is a live access token of this server, else undefined. */
async function liveAccessToken(req) {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match) {
    return undefined;
  }
  const token = await provider.AccessToken.find(match[1]);
  return token && !token.isExpired ? token : undefined;
}

/** Charges one point to a fixed-window budget; the 429's headers when it is spent, else {nearLimit}. */
function charge(key, limit, reason, scope, now) {
  let window = gateway.windows.get(key);
  if (!window || now >= window.start + limit.windowMs) {
    window = { start: now, used: 0, pause: undefined };
    gateway.windows.set(key, window);
  }
  const end = window.start + limit.windowMs;
  if (window.used >= limit.points) {
    if (scope !== 'burst') {
      if (!window.pause) {
        window.pause = { scope, key, from: now, until: end };
        gateway.stats.pauses.push(window.pause);
      }
      gateway.stats.sentDuringPauseAll += 1;
      if (now >= window.pause.from + gateway.graceMs) {
        gateway.stats.sentDuringPause += 1;
      }
    }
    return {
      limited: {
        'retry-after': String(Math.max(1, Math.ceil((end - now) / 1000))),
        'ratelimit-reason': reason,
        'x-ratelimit-reset': new Date(end).toISOString(),
      },
    };
  }
  window.used += 1;
  return { nearLimit: limit.points - window.used < 0.2 * limit.points };
}

async function gatewayRequest(req, url, res) {
  const now = Date.now();
  const stats = gateway.stats;
  const answer = (status, body, headers = {}) => {
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    if (status === 429) {
      stats.limited += 1;
    } else if (status < 300) {
      stats.answered += 1;
    }
    res.writeHead(status, body === undefined ? headers : { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  stats.requests += 1;
  const [, , platform, cloudId, ...rest] = url.pathname.split('/');
  const inFlight = gateway.inFlight;
  inFlight[cloudId] = (inFlight[cloudId] ?? 0) + 1;
  stats.maxInFlight[cloudId] = Math.max(stats.maxInFlight[cloudId] ?? 0, inFlight[cloudId]);
  res.once('close', () => (inFlight[cloudId] -= 1));
  const path = '/' + rest.join('/');
  const token = await liveAccessToken(req);
  stats.authorizations[token ? 'live' : req.headers.authorization ? 'dead' : 'none'] += 1;
  if (!token) {
    // Atlassian's gateway answers a dead token with 404 on v2 paths and 403 on v1 (n8n #37776).
    if (path.startsWith('/rest/api/2/')) {
      return answer(404, {
        errorMessages: ['Issue does not exist or you do not have permission to see it.'],
        errors: {},
      });
    }
    if (path.includes('/1.0/')) {
      return answer(403, { message: 'Forbidden' });
    }
    return answer(401, { code: 401, message: 'Unauthorized; scope does not match' });
  }
  const body = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : {};
  let nearLimit = false;
  const budget = gateway.budget;
  for (const [key, limit, reason, scope] of [
    ['app', budget.app, 'jira-quota-global-based', 'app'],
    [`tenant ${cloudId}`, budget.tenant, 'jira-quota-tenant-based', 'tenant'],
    [
      `burst ${cloudId} ${req.method} ${path}`,
      budget.burstPerSecond && { points: budget.burstPerSecond, windowMs: 1000 },
      'jira-burst-based',
      'burst',
    ],
  ]) {
    if (!limit) {
      continue;
    }
    const charged = charge(key, limit, reason, scope, now);
    if (charged.limited) {
      return answer(429, { errorMessages: ['Rate limit exceeded.'] }, charged.limited);
    }
    nearLimit ||= charged.nearLimit;
  }
  const headers = nearLimit ? { 'x-ratelimit-nearlimit': 'true' } : {};
  const scripted = gateway.script.find((entry) => entry.times > 0 && (!entry.match || path.includes(entry.match)));
  if (scripted) {
    scripted.times -= 1;
    if (scripted.delayMs) {
      await new Promise((resolve) => setTimeout(resolve, scripted.delayMs));
    }
    if (scripted.drop) {
      stats.byStatus.dropped = (stats.byStatus.dropped ?? 0) + 1;
      req.socket.destroy();
      return;
    }
    return answer(scripted.status, scripted.body, { ...headers, ...(scripted.headers ?? {}) });
  }
  const issuePath = /^\/rest\/api\/[23]\/issue(?:\/([^/]+))?$/.exec(path);
  if (req.method === 'GET' && /^\/rest\/api\/[23]\/myself$/.test(path)) {
    return answer(200, { accountId: token.accountId, platform, cloudId }, headers);
  }
  if (req.method === 'GET' && path === '/echo') {
    return answer(200, { query: [...url.searchParams.entries()], path, platform, cloudId }, headers);
  }
  if (issuePath && req.method === 'POST' && !issuePath[1]) {
    const key = `ABC-${gateway.nextIssue++}`;
    gateway.issues.set(`${cloudId}/${key}`, { key, fields: body.fields ?? {} });
    return answer(201, { id: String(gateway.nextIssue - 1), key }, headers);
  }
  if (issuePath && issuePath[1]) {
    const id = `${cloudId}/${decodeURIComponent(issuePath[1])}`;
    const issue = gateway.issues.get(id);
    if (!issue) {
      return answer(
        404,
        { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} },
        headers,
      );
    }
    if (req.method === 'GET') {
      return answer(200, issue, headers);
    }
    if (req.method === 'PUT') {
      issue.fields = { ...issue.fields, ...(body.fields ?? {}) };
      return answer(204, undefined, headers);
    }
    if (req.method === 'DELETE') {
      gateway.issues.delete(id);
      return answer(204, undefined, headers);
    }
  }
  return answer(404, { errorMessages: [`No route ${req.method} ${path} in the test gateway.`], errors: {} }, headers);
}

server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/ex/')) {
    gatewayRequest(req, url, res).catch((error) => send(res, 500, { error: String(error && error.message) }));
    return;
  }
  if (url.pathname.startsWith('/__test/')) {
    admin(req, url, res).catch((error) => send(res, 500, { error: String(error && error.message) }));
    return;
  }
  if (url.pathname === '/oauth/token/accessible-resources' && req.method === 'GET') {
    stats.accessibleResourcesRequests += 1;
    gateway.stats.accessibleResources += 1;
    accessibleResources(req, res).catch((error) => send(res, 500, { error: String(error && error.message) }));
    return;
  }
  if (url.pathname === tokenPath && req.method === 'POST') {
    stats.tokenRequests += 1;
    // Counted from the raw body so that a request oidc-provider refuses early is counted too.
    let body = '';
    req.on('data', (chunk) => (body += chunk.toString()));
    req.on('end', () => {
      const type = new URLSearchParams(body).get('grant_type') ?? '(none)';
      stats.tokenRequestsByGrantType[type] = (stats.tokenRequestsByGrantType[type] ?? 0) + 1;
    });
  }
  oidcCallback(req, res);
});

async function accessibleResources(req, res) {
  const [scheme, value] = (req.headers.authorization ?? '').split(' ');
  const token = scheme === 'Bearer' && value ? await provider.AccessToken.find(value) : undefined;
  if (!token || token.isExpired) {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
    res.end(JSON.stringify({ code: 401, message: 'Unauthorized' }));
    return;
  }
  const resources = resourcesByGrant.get(token.grantId) ?? defaultResources;
  if (resources) {
    return send(res, 200, resources);
  }
  const scopes = String(token.scope ?? '')
    .split(' ')
    .filter((scope) => scope && scope !== 'offline_access' && scope !== 'openid');
  return send(res, 200, [
    {
      id: '00000000-0000-4000-8000-000000000001',
      url: 'https://default.atlassian.net',
      name: 'default',
      scopes,
      avatarUrl: 'https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png',
    },
  ]);
}

async function admin(req, url, res) {
  const input = req.method === 'POST' ? await readJson(req) : {};
  const parts = url.pathname.split('/').filter(Boolean); // ['__test', ...]
  if (req.method === 'POST' && parts[1] === 'gateway' && parts.length === 2) {
    const issues = gateway.issues;
    const nextIssue = gateway.nextIssue;
    Object.assign(gateway, newGateway(input), { issues, nextIssue });
    return send(res, 200, {});
  }
  if (req.method === 'GET' && parts[1] === 'gateway' && parts[2] === 'stats') {
    return send(res, 200, gateway.stats);
  }
  if (req.method === 'GET' && parts[1] === 'stats') {
    return send(res, 200, stats);
  }
  if (req.method === 'POST' && parts[1] === 'stats' && parts[2] === 'reset') {
    Object.assign(stats, newStats());
    return send(res, 200, stats);
  }
  if (req.method === 'POST' && parts[1] === 'accessible-resources') {
    if (input.grantId === undefined) {
      defaultResources = input.resources ?? null;
    } else if (input.resources === null || input.resources === undefined) {
      resourcesByGrant.delete(input.grantId);
    } else {
      resourcesByGrant.set(input.grantId, input.resources);
    }
    return send(res, 200, { set: true });
  }
  if (req.method === 'POST' && parts[1] === 'grants' && parts.length === 2) {
    const client = await provider.Client.find(clientId);
    const scope = input.scope ?? 'offline_access read:jira-work';
    const grant = new provider.Grant({ accountId: input.accountId ?? 'account-1', clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const code = new provider.AuthorizationCode({
      accountId: grant.accountId,
      grantId,
      client,
      scope,
      redirectUri: input.redirectUri ?? redirectUris[0],
    });
    return send(res, 200, { grantId, code: await code.save() });
  }
  if (req.method === 'POST' && parts[1] === 'grants' && parts[3] === 'refresh-token') {
    const grant = await provider.Grant.find(parts[2]);
    if (!grant) {
      return send(res, 404, { error: 'no such grant' });
    }
    const client = await provider.Client.find(clientId);
    const refreshToken = new provider.RefreshToken({
      accountId: grant.accountId,
      grantId: grant.jti,
      client,
      scope: input.scope ?? 'offline_access read:jira-work',
      gty: 'authorization_code',
    });
    return send(res, 200, { refreshToken: await refreshToken.save() });
  }
  if (req.method === 'POST' && parts[1] === 'grants' && parts[3] === 'revoke') {
    const grantId = parts[2];
    await Promise.all([
      provider.AccessToken.revokeByGrantId(grantId),
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AuthorizationCode.revokeByGrantId(grantId),
      provider.Grant.adapter.destroy(grantId),
    ]);
    return send(res, 200, { revoked: grantId });
  }
  return send(res, 404, { error: 'unknown admin route' });
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk.toString()));
    req.on('end', () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}

function send(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(
  JSON.stringify({
    event: 'ready',
    issuer,
    tokenUrl: `${issuer}/token`,
    authorizeUrl: `${issuer}/auth`,
  }) + '\n',
);
