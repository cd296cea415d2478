/**
 * Real headless Chromium for the console's browser tests: Debian's `chromium` package
 * (scripts/ensure-deps.sh installs it) driven by playwright-core, a fresh profile per launch,
 * screenshots under test-artifacts/browser/ (gitignored; CI keeps it as an artifact).
 */
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.FREIGHT_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts/browser');

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Messages Chromium printed to the console (CSP violations land here). */
  consoleLines: string[];
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'freight-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
    // the controller's own CA signs its certificate; the test reaches it through a loopback relay
    ignoreHTTPSErrors: true,
    viewport: { width: 1500, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const consoleLines: string[] = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    consoleLines,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Logs in through the form (the token is typed, never put in the URL). */
export async function login(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('#token', token);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('header .brand');
}
