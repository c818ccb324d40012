import { AtlassianOauthStateEntity } from '../../database/entities';
import { TokenIntegrityError, UnknownTokenKeyError } from '../../token-cipher/token-cipher.errors';
import { AtlassianOauthTokenSealer } from '../atlassian-oauth-token-sealer';

/**
 * What re-encryption does with one stored row, and which count of `reencryptAll`'s result it lands in:
 * - `alreadyCurrent`: both tokens are sealed under the active key; nothing to write.
 * - `sealed` / `legacyPlaintext`: write `resealed` (with a compare-and-swap on the stored values);
 *   `legacyPlaintext` when a token was not sealed at all, which is opened only under
 *   `OAUTH_STATE_ACCEPT_PLAINTEXT_ROWS=true`.
 * - `failed`: a token cannot be opened (tampered, unknown key id, or plaintext that is not
 *   accepted); the row is left as it is and `reason` (no token in it) says why.
 */
export type RowReencryption =
  | { readonly outcome: 'alreadyCurrent' }
  | { readonly outcome: 'sealed' | 'legacyPlaintext'; readonly resealed: AtlassianOauthStateEntity }
  | { readonly outcome: 'failed'; readonly reason: string };

/**
 * Decides what re-encryption does with one stored row (see {@link RowReencryption}). The one rule
 * for both the row-at-a-time and the batched write paths, so that they count the same rows alike.
 * Writes nothing.
 */
export function planRowReencryption(
  sealer: AtlassianOauthTokenSealer,
  row: AtlassianOauthStateEntity,
): RowReencryption {
  if (sealer.isCurrent(row)) {
    return { outcome: 'alreadyCurrent' };
  }
  try {
    // `open` refuses a plaintext token unless plaintext rows are accepted: such a row fails here.
    const resealed = sealer.seal(sealer.open(row));
    return { outcome: sealer.holdsPlaintext(row) ? 'legacyPlaintext' : 'sealed', resealed };
  } catch (error) {
    if (error instanceof TokenIntegrityError || error instanceof UnknownTokenKeyError) {
      return { outcome: 'failed', reason: error.message };
    }
    throw error;
  }
}
