import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';
import { complaintsOf, launchChromium } from '../helpers/chromium.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { tokenFor } from './relay-harness.ts';

const ARTIFACTS = resolve('test-artifacts');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

const resources = integrationResources();
let config: Config;
let relay: FastifyInstance;
let relayPort: number;
let relayUrl: string;
let webhookUrl: string;
let browser: Browser;

const startRelay = async (port: number) => {
  relay = await buildRelayApp({ config, logger: silentLogger() });
  relayUrl = await relay.listen({ host: '127.0.0.1', port });
  relayPort = (relay.server.address() as { port: number }).port;
};

const post = async (body: VapiBody) => {
  const raw = JSON.stringify(body);
  expect((await fetch(webhookUrl, { method: 'POST', headers: hmacHeaders(raw), body: raw })).status).toBe(200);
};
const playAll = async (bodies: VapiBody[]) => {
  for (const body of bodies) await post(body);
};

/** Opens the page at a viewport, pastes the token and waits for the list (or the refusal). */
async function openWith(token: string, viewport = DESKTOP): Promise<{ page: Page; complaints: string[] }> {
  const page = await browser.newPage({ viewport });
  const complaints = complaintsOf(page);
  await page.goto(relayUrl);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  return { page, complaints };
}

const rowsOf = (page: Page) => page.$$eval('.call-row', (rows) => rows.map((row) => ({ id: row.getAttribute('data-session-id'), text: row.textContent })));
const bubblesOf = (page: Page) => page.$$eval('#transcript .bubble', (els) => els.map((el) => ({ className: el.className, text: el.textContent })));
/** How many final utterances the open call's transcript shows. */
const finalBubbles = (page: Page) => page.locator('#transcript .bubble:not(.partial)').count();
const screenshot = async (page: Page, name: string) => {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: resolve(ARTIFACTS, name), fullPage: true });
};

beforeAll(async () => {
  config = testConfig();
  const ingress = await buildIngressApp({ config, logger: silentLogger() });
  const worker = await buildWorkerApp({ config, logger: silentLogger() });
  await worker.ready();
  webhookUrl = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  await startRelay(0);
  resources.track(ingress, worker);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await relay?.close();
  await resources.reset(config.queuePrefix);
  await resources.close();
});

describe('the watch page', () => {
  const older = realisticCall({ patientId: 'pat-page', startMs: Date.parse('2026-11-20T15:00:00.000Z') });
  const newer = realisticCall({ patientId: 'pat-page', startMs: Date.parse('2026-11-27T09:30:00.000Z') });
  const someoneElse = realisticCall({ patientId: 'pat-other', startMs: Date.parse('2026-11-28T09:30:00.000Z') });

  it("lists the patient's calls newest first, opens one with its transcript and summary, and keeps screenshots", async () => {
    for (const call of [older, newer, someoneElse]) await playAll(call.events);
    await waitFor(async () => (await resources.handle.sql`select count(*)::int as n from vapi_sessions where status = 'completed'`)[0]?.n === 3);

    const { page, complaints } = await openWith(tokenFor(config, 'pat-page'));
    await page.waitForSelector('.call-row');
    const rows = await rowsOf(page);
    expect(rows.map((row) => row.id)).toEqual([newer.callId, older.callId]); // never another patient's
    expect(rows[0]?.text).toContain('The patient asked to move an appointment');

    await page.click(`.call-row[data-session-id="${older.callId}"]`);
    await page.waitForSelector('#transcript .bubble');
    expect((await bubblesOf(page)).map((b) => b.text)).toEqual(older.finalTranscripts.map(([, text]) => text));
    expect((await bubblesOf(page))[1]?.className).toBe('bubble user');
    expect(await page.textContent('#call-summary')).toContain('The patient asked to move an appointment with Dr. Okafor.');
    expect(await page.textContent('#call-head')).toContain('customer-ended-call');
    expect(complaints).toEqual([]);
    await screenshot(page, 'relay-page-desktop.png');
    await page.close();
  });

  it('fits a phone (390 px) without scrolling sideways, list and call alike', async () => {
    const { page, complaints } = await openWith(tokenFor(config, 'pat-page'), PHONE);
    await page.waitForSelector('.call-row');
    const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, 'relay-page-phone-list.png');
    await page.click(`.call-row[data-session-id="${newer.callId}"]`);
    await page.waitForSelector('#transcript .bubble');
    expect(await page.isVisible('#calls')).toBe(false); // one view at a time on a phone
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, 'relay-page-phone-call.png');
    await page.click('#back');
    await page.waitForSelector('.call-row');
    expect(complaints).toEqual([]);
    await page.close();
  });

  it('marks a live call and follows it, and after a relay restart resumes from the last event it showed', async () => {
    const live = realisticCall({ patientId: 'pat-live' });
    // Three status updates, then four events a turn (speech, partial, final, speech), then the end.
    const firstTurn = live.events.slice(0, 7);
    const secondTurn = live.events.slice(7, 11);
    const theRest = live.events.slice(11);
    await playAll(firstTurn);
    await waitFor(async () => (await resources.handle.sql`select count(*)::int as n from vapi_messages where session_id = ${live.callId}`)[0]?.n === 1);

    const { page, complaints } = await openWith(tokenFor(config, 'pat-live'));
    await page.waitForSelector('.call-row .badge.live');
    await page.click('.call-row');
    await page.waitForSelector('#transcript .bubble');
    await page.waitForSelector('#conn[data-state="live"]');

    await playAll(secondTurn);
    await expect.poll(() => finalBubbles(page), { timeout: 10_000 }).toBe(2);

    // The relay goes away; what is said meanwhile reaches the page after it reconnects, by replay.
    await relay.close();
    await page.waitForSelector('#conn[data-state="reconnecting"]');
    await playAll(theRest.slice(0, 4));
    await startRelay(relayPort);
    await page.waitForSelector('#conn[data-state="live"]');
    await expect.poll(() => finalBubbles(page), { timeout: 10_000 }).toBe(3);

    await playAll(theRest.slice(4));
    await page.waitForSelector('#call-summary:not([hidden])', { timeout: 15_000 });
    const finals = (await bubblesOf(page)).filter((b) => !b.className.includes('partial'));
    expect(finals.map((b) => b.text)).toEqual(live.finalTranscripts.map(([, text]) => text)); // no gap, no duplicate
    await page.waitForSelector('.call-row .badge.live', { state: 'detached' });
    expect(complaints).toEqual([]);
    await page.close();
  });

  it('says in words why a token is refused: expired, signed with another key, not a token', async () => {
    const cases: [string, RegExp][] = [
      [tokenFor(config, 'pat-page', { ttlS: -60 }), /expired/],
      [tokenFor({ ...config, relayJwtSecret: 'another-key-entirely-another-key' }, 'pat-page'), /another key/],
      ['not-a-token', /not a relay token/],
    ];
    for (const [token, words] of cases) {
      const { page } = await openWith(token);
      await page.waitForSelector('#notice:not([hidden])');
      expect(await page.textContent('#notice')).toMatch(words);
      expect(await page.$$('.call-row')).toHaveLength(0);
      await page.close();
    }
  });
});
