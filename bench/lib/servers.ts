/** Where the server engines run: an admin URL per server (its user may create databases), or none. */
export type ServerUrls = Partial<Record<'postgres' | 'mariadb', string>>;

/** The variable that names each server, as the server test suites read it. */
export const SERVER_VARIABLES = { postgres: 'TEST_POSTGRES_URL', mariadb: 'TEST_MARIADB_URL' } as const;

/** What the bench's options say about the servers: a URL each (`--postgres`, `--mariadb` or their variables), and `--no-servers`. */
export interface ServerOptions {
  readonly postgres?: string;
  readonly mariadb?: string;
  /** False with `--no-servers`. */
  readonly servers: boolean;
}

/**
 * The servers a run measures, and a line for each one it leaves out saying why: `--no-servers`
 * leaves out every server, named or not; otherwise a server is measured only when it is named.
 * The lines never hold a URL (it can carry a password).
 */
export function chooseServers(options: ServerOptions): { servers: ServerUrls; skipped: string[] } {
  const servers: ServerUrls = {};
  const skipped: string[] = [];
  for (const server of ['postgres', 'mariadb'] as const) {
    const url = options[server];
    if (!options.servers) {
      skipped.push(`bench: ${server} left out by --no-servers${url === undefined ? '' : ' (a URL was given or set)'}`);
    } else if (url === undefined) {
      skipped.push(`bench: no ${server} named (--${server} URL or ${SERVER_VARIABLES[server]}): skipped`);
    } else {
      servers[server] = url;
    }
  }
  return { servers, skipped };
}
