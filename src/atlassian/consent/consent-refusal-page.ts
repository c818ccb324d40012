import { createHash } from 'node:crypto';

/** Why the public consent routes refused a browser: each has one sentence a customer can act on. */
export type ConsentRefusal = 'unknown' | 'expired' | 'other-browser';

const MESSAGES: Record<ConsentRefusal, string> = {
  unknown: 'This connection link is not valid or was already used.',
  expired: 'This connection link has expired.',
  'other-browser': 'This connection was started in another browser.',
};

const NEXT_STEP = 'Go back to the application and start connecting again.';

/** The page's whole style, allowed by its hash in the page's Content-Security-Policy. */
const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#172b4d}';

/**
 * The refusal page's `Content-Security-Policy`: nothing may load or run, the one inline style
 * excepted (by its hash), and no site may frame it.
 */
export const REFUSAL_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The sentence a refusal answers with, in the JSON answer and on the page. */
export function refusalMessage(refusal: ConsentRefusal): string {
  return `${MESSAGES[refusal]} ${NEXT_STEP}`;
}

/**
 * A small HTML page for a customer's browser that the consent flow refused: what happened and what
 * to do, in plain words. No script, no external resource, nothing from the request.
 */
export function refusalPage(refusal: ConsentRefusal): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex">',
    '<title>Connection not completed</title>',
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<h1>Connection not completed</h1>',
    `<p>${MESSAGES[refusal]}</p>`,
    `<p>${NEXT_STEP}</p>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
