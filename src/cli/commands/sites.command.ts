import { Command } from 'commander';
import { validateKey } from '../../atlassian/atlassian-oauth-state.validation';
import { CliContext } from '../cli-context';
import { CliError, ExitCode } from '../cli-errors';
import { describeKey, formatSiteLines, siteJson } from '../cli-format';

interface SitesOptions {
  refresh?: boolean;
  json?: boolean;
}

/**
 * `sites <platform> <tenantId> [--refresh] [--json]`: the Atlassian sites (cloud id, URL, name,
 * scopes) the key's grant reaches, as stored. `--refresh` reads them from Atlassian's
 * `accessible-resources` first (`AtlassianSitesService.refreshSites`: needs `ATLASSIAN_CLIENT_ID` and
 * `ATLASSIAN_CLIENT_SECRET`, and may refresh the access token). Exits 1 when nothing is stored for
 * the key, or when its grant reaches no site of the platform.
 */
export function registerSitesCommand(program: Command, cli: CliContext): void {
  program
    .command('sites')
    .description(
      "List the Atlassian sites (cloud id, URL, name, scopes) a tenant's grant reaches, as stored; --refresh reads them from Atlassian first (needs ATLASSIAN_CLIENT_ID and ATLASSIAN_CLIENT_SECRET). Exit 1 when the key is not stored or reaches no site.",
    )
    .argument('<platform>', 'e.g. jira')
    .argument('<tenantId>', 'the tenant')
    .option('--refresh', "read the sites from Atlassian's accessible-resources and store them first")
    .option('--json', 'print JSON instead of text')
    .action(async (platform: string, tenantId: string, options: SitesOptions) => {
      validateKey(platform, tenantId);
      const key = describeKey(platform, tenantId);
      const refresh = options.refresh === true;
      const sites = await cli.withStates({ create: false, atlassian: refresh }, async ({ repo, app }) => {
        const { AtlassianSiteRepo, AtlassianSitesService } = await import('../../atlassian');
        if (!(await repo.get(platform, tenantId))) {
          throw new CliError(ExitCode.NotFoundOrConflict, `no state stored for ${key}`);
        }
        return refresh
          ? app.get(AtlassianSitesService).refreshSites(platform, tenantId)
          : app.get(AtlassianSiteRepo).list(platform, tenantId);
      });
      if (options.json) {
        cli.printJson(sites.map(siteJson));
      } else {
        cli.print(formatSiteLines(sites));
      }
      if (sites.length === 0) {
        throw new CliError(
          ExitCode.NotFoundOrConflict,
          `the grant of ${key} reaches no ${platform} site${refresh ? '' : ' (as stored; --refresh reads Atlassian)'}`,
        );
      }
    });
}
