import { accessSync, constants } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

/** Debian's Chromium (installed by `.ci/run`), or wherever CHROMIUM_PATH says. */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The browser the page tests drive; where it is missing, a failure that says how to get it (not `spawn EACCES`). */
export function launchChromium(): Promise<Browser> {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium is needed for the relay page tests and is not at ${CHROMIUM}: install it (\`apt-get install chromium\` on Debian/Ubuntu) or set CHROMIUM_PATH to a Chromium or Chrome executable`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * What a page complained about while it was open: console errors (a Content Security Policy
 * violation is one, and so is a failed load) and uncaught exceptions. A page that works says nothing.
 */
export function complaintsOf(page: Page): string[] {
  const complaints: string[] = [];
  page.on('console', (message) => message.type() === 'error' && complaints.push(`console: ${message.text()}`));
  page.on('pageerror', (error) => complaints.push(`page error: ${error.message}`));
  return complaints;
}
