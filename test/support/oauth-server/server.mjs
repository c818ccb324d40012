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

server.on('request', (req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/__test/')) {
    admin(req, url, res).catch((error) => send(res, 500, { error: String(error && error.message) }));
    return;
  }
  if (url.pathname === '/oauth/token/accessible-resources' && req.method === 'GET') {
    stats.accessibleResourcesRequests += 1;
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
