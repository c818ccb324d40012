import { AtlassianSiteEntity } from '../../database/entities';
import { AtlassianAccessibleResource } from './accessible-resources.client';
import { AtlassianSiteValues } from './atlassian-site.repo';

/**
 * Whether `scope` is one of `platform`'s: one of its parts (split at `:`, `-` and `.`) is the
 * platform's name, case-insensitively. `read:jira-work` and `read:issue:jira` are Jira's,
 * `read:confluence-content.all` and `read:page:confluence` Confluence's; `jira` never matches
 * `jira-servicedesk` as a whole word would, nor `nojira`.
 */
export function isScopeOf(platform: string, scope: string): boolean {
  const name = platform.toLowerCase();
  return scope
    .toLowerCase()
    .split(/[:.-]/)
    .some((part) => part === name);
}

/**
 * The sites of `platform` among `resources`: those with at least one scope of the platform.
 * Atlassian lists a site once per product; entries with the same cloud id are one site, their
 * scopes merged (first seen first), the first entry's URL, name and avatar kept.
 */
export function sitesOfPlatform(
  platform: string,
  resources: readonly AtlassianAccessibleResource[],
): AtlassianSiteValues[] {
  const sites = new Map<string, AtlassianSiteValues>();
  for (const resource of resources) {
    if (!resource.scopes.some((scope) => isScopeOf(platform, scope))) {
      continue;
    }
    const seen = sites.get(resource.id);
    if (seen) {
      seen.scopes = [...new Set([...seen.scopes, ...resource.scopes])];
    } else {
      sites.set(resource.id, {
        cloudId: resource.id,
        url: resource.url,
        name: resource.name,
        scopes: [...new Set(resource.scopes)],
        avatarUrl: resource.avatarUrl,
      });
    }
  }
  return [...sites.values()];
}

/** What {@link chooseSite} found: the site, or whether the absent selector left several to choose from. */
export interface SiteChoice {
  readonly site?: AtlassianSiteEntity;
  readonly ambiguous?: boolean;
}

/**
 * The one site of `sites` that `selector` names: a cloud id (exactly), or a site URL that has the
 * same origin (scheme and host compared case-insensitively, a default port, a path, a query and
 * a trailing slash ignored). Never a prefix or a substring: `https://acme.atlassian.net` is not
 * `https://acme-eu.atlassian.net`. Without a selector, the one site when there is exactly one,
 * `ambiguous` when there are several.
 */
export function chooseSite(sites: readonly AtlassianSiteEntity[], selector: string | undefined): SiteChoice {
  if (selector === undefined) {
    if (sites.length > 1) {
      return { ambiguous: true };
    }
    return sites[0] ? { site: sites[0] } : {};
  }
  const byId = sites.find((site) => site.cloudId === selector);
  if (byId) {
    return { site: byId };
  }
  const origin = originOf(selector);
  const byUrl = origin === null ? undefined : sites.find((site) => originOf(site.url) === origin);
  return byUrl ? { site: byUrl } : {};
}

/** `https://acme.atlassian.net` for `HTTPS://ACME.atlassian.net:443/jira/`; `null` for what is not an http(s) URL. */
export function originOf(value: string): string | null {
  try {
    const url = new URL(value.trim());
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : null;
  } catch {
    return null;
  }
}
