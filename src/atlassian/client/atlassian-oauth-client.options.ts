import { AtlassianConfig } from '../../config/atlassian.config';
import { AtlassianOauthClientConfigError } from './atlassian-oauth-client.errors';

export {
  DEFAULT_ATLASSIAN_OAUTH_AUTHORIZE_URL,
  DEFAULT_ATLASSIAN_OAUTH_TOKEN_URL,
  DEFAULT_TOKEN_ENDPOINT_TIMEOUT_MS,
} from '../../config/atlassian.config';

/**
 * The Atlassian settings the Atlassian modules read: the `atlassian` configuration itself (one
 * type per namespace), under the name these modules have always injected.
 *
 * @deprecated Use `AtlassianConfig` from `src/config/atlassian.config.ts`; this alias stays for
 *   existing imports.
 */
export type AtlassianOauthSettings = AtlassianConfig;

/**
 * The Nest injection token the Atlassian modules read the `atlassian` configuration through (it
 * is `atlassianConfig.KEY`'s value unless overridden). Tests override it to point a module at a
 * local OAuth server without touching the rest of the configuration.
 */
export const ATLASSIAN_OAUTH_SETTINGS = Symbol('AtlassianOauthSettings');

/** What an {@link AtlassianOauthClient} needs, checked. */
export interface AtlassianOauthClientOptions {
  clientId: string;
  clientSecret: string;
  tokenUrl: URL;
  authorizeUrl: URL;
  timeoutMs: number;
}

/**
 * The client's options from the `atlassian` configuration, whose values were validated when it
 * loaded. What is left to check is what only a client that is used needs: its credentials.
 *
 * @throws AtlassianOauthClientConfigError naming `ATLASSIAN_CLIENT_ID` or `ATLASSIAN_CLIENT_SECRET`
 *   when one is not set. The message never repeats a value: the secret is one.
 */
export function atlassianOauthClientOptions(config: AtlassianConfig): AtlassianOauthClientOptions {
  return {
    clientId: required(config.clientId, 'ATLASSIAN_CLIENT_ID'),
    clientSecret: required(config.clientSecret, 'ATLASSIAN_CLIENT_SECRET'),
    tokenUrl: new URL(config.tokenUrl),
    authorizeUrl: new URL(config.authorizeUrl),
    timeoutMs: config.tokenEndpointTimeoutMs,
  };
}

function required(value: string | undefined, variable: string): string {
  if (value === undefined || value.trim() === '') {
    throw new AtlassianOauthClientConfigError(
      `${variable} is not set: the Atlassian OAuth client needs it to call Atlassian's token endpoint. ` +
        "Set it to the value of your app's Settings page in the Atlassian developer console.",
      variable,
    );
  }
  return value;
}
