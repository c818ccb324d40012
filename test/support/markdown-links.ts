import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** A link in a Markdown file that does not lead anywhere. */
export interface BrokenLink {
  /** The file the link is in, relative to the root it was checked from. */
  file: string;
  /** The 1-based line of the link. */
  line: number;
  /** The link's target as written. */
  target: string;
  /** Why it does not resolve. */
  reason: string;
}

/**
 * The anchor GitHub gives a heading: the heading's text as rendered (inline code, emphasis and link
 * syntax dropped), lower-cased, every character that is not a letter, mark, digit, connector
 * (`_`), hyphen or space removed, and each space turned into a hyphen. The rules of
 * github-slugger, which github.com's Markdown renderer follows:
 * https://github.com/Flet/github-slugger/blob/master/index.js
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]|(?<!\w)_|_(?!\w)/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The lines of `markdown` that render as text: those inside ``` or ~~~ fences are blanked (kept as lines, so numbers hold). */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = marker;
      return '';
    }
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) {
        fence = undefined;
      }
      return '';
    }
    return line;
  });
}

/** Every anchor a Markdown file offers: its headings' slugs (a repeated one gets `-1`, `-2`, ... as on GitHub) and explicit `id`/`name` attributes. */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) {
      anchors.add(match[1] ?? '');
    }
  }
  return anchors;
}

/** The link targets of `markdown` with their 1-based lines: inline links and images, and reference definitions; not in code. */
export function markdownLinks(markdown: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  proseLines(markdown).forEach((raw, index) => {
    const line = raw.replace(/(`+)[^`]*?\1/g, '');
    for (const match of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ line: index + 1, target: match[1] ?? '' });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(line);
    if (definition?.[1] !== undefined) {
      links.push({ line: index + 1, target: definition[1] });
    }
  });
  return links;
}

/**
 * The relative links and `#anchor`s of `files` (paths under `root`) that do not resolve: a target
 * file or folder that does not exist, or an anchor that no heading of the target Markdown file
 * gives. Absolute URLs (`https:`, `mailto:`, ...) are not followed.
 */
export function brokenMarkdownLinks(root: string, files: string[]): BrokenLink[] {
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (path: string): Set<string> => {
    let found = anchorsOf.get(path);
    if (found === undefined) {
      found = markdownAnchors(readFileSync(path, 'utf8'));
      anchorsOf.set(path, found);
    }
    return found;
  };
  const broken: BrokenLink[] = [];
  for (const file of files) {
    const from = join(root, file);
    for (const { line, target } of markdownLinks(readFileSync(from, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        continue;
      }
      const hash = target.indexOf('#');
      const pathPart = decodeURI(hash < 0 ? target : target.slice(0, hash));
      const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const to =
        pathPart === '' ? from : pathPart.startsWith('/') ? join(root, pathPart) : join(dirname(from), pathPart);
      const report = (reason: string): void => {
        broken.push({ file, line, target, reason });
      };
      if (!existsSync(to)) {
        report(`${relative(root, to)} does not exist`);
      } else if (anchor !== undefined && anchor !== '') {
        if (statSync(to).isDirectory() || !to.endsWith('.md')) {
          report(`#${anchor} points into ${relative(root, to)}, which is not a Markdown file`);
        } else if (!anchors(to).has(anchor)) {
          report(`no heading of ${relative(root, to)} has the anchor #${anchor}`);
        }
      }
    }
  }
  return broken;
}
