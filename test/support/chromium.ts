import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, Page, chromium } from 'playwright-core';

/** Debian's Chromium, which `.ci/run` installs (`apt-get install -y chromium`). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Chromium's flags for tests: headless, no sandbox (containers run as root), and none of the
 * background traffic a fresh profile starts (updates, sync, QUIC probes), so that every request
 * the browser makes is one the test caused.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * `describe` for a browser suite: runs where Chromium is installed; elsewhere it is skipped with
 * the reason printed, except with `CI=true`, where a missing browser fails the run.
 */
export function describeWithChromium(name: string, body: () => void): void {
  if (existsSync(CHROMIUM_PATH) || process.env.CI === 'true') {
    describe(name, body);
    return;
  }
  process.stdout.write(`Skipping "${name}": ${CHROMIUM_PATH} is missing (apt-get install -y chromium)\n`);
  describe.skip(`${name} (skipped: ${CHROMIUM_PATH} is missing)`, body);
}

/**
 * How long one browser step (a click, a navigation, a wait) may take: well under jest's limit for a
 * test, so that a stuck step fails with its own message and a screenshot instead of a bare timeout.
 */
export const BROWSER_STEP_TIMEOUT_MS = 20_000;

/** A headless Chromium with a fresh profile folder of its own, removed on close. */
export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Chromium with {@link CHROMIUM_FLAGS} and a fresh `--user-data-dir` (Playwright passes
 * the folder as that flag). Requests to any host but 127.0.0.1 are aborted: tests never leave the
 * machine, even when a page asks for a web font.
 */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing, but CI=true requires the browser suites (apt-get install -y chromium)`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'agent-core-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  await context.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
  );
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `steps` on a new page whose steps time out after {@link BROWSER_STEP_TIMEOUT_MS}; when they
 * fail, saves a full-page screenshot to `screenshotPath`, prints where it is and the page's origin
 * and path (never its query, which may hold a code), and rethrows.
 */
export async function onPage(
  browser: TestBrowser,
  screenshotPath: string,
  steps: (page: Page) => Promise<void>,
): Promise<void> {
  const page = await withinStepLimit(browser.context.newPage(), 'opening a page');
  page.setDefaultTimeout(BROWSER_STEP_TIMEOUT_MS);
  try {
    await steps(page);
  } catch (error) {
    const at = URL.canParse(page.url()) ? new URL(page.url()) : undefined;
    process.stdout.write(`The failed browser step was on ${at ? at.origin + at.pathname : 'no page'}\n`);
    await page.screenshot({ path: screenshotPath, fullPage: true }).then(
      () => process.stdout.write(`Screenshot of the failed browser step: ${screenshotPath}\n`),
      () => process.stdout.write(`Could not save a screenshot to ${screenshotPath}\n`),
    );
    throw error;
  } finally {
    // A route handler still running would hold the close: its requests are dropped first.
    await page.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => undefined);
    await withinStepLimit(page.close(), 'closing the page').catch((error: Error) =>
      process.stdout.write(`${error.message}\n`),
    );
  }
}

/** `step`, or an error naming `what` once it has taken longer than {@link BROWSER_STEP_TIMEOUT_MS}. */
function withinStepLimit<T>(step: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    step,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Chromium did not finish ${what} within ${BROWSER_STEP_TIMEOUT_MS} ms`)),
        BROWSER_STEP_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
