import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { complaintsOf, launchChromium } from '../helpers/chromium.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { openTestDatabase, truncateAll } from '../helpers/database.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { tokenFor } from './relay-harness.ts';

const SCREENSHOT = resolve('test-artifacts/relay-page.png');

const handle = openTestDatabase();
const redis = openTestRedis();
let config: Config;
let apps: FastifyInstance[];
let relayUrl: string;
let webhookUrl: string;
let browser: Browser;

beforeAll(async () => {
  config = testConfig();
  const ingress = await buildIngressApp({ config, logger: silentLogger() });
  const worker = await buildWorkerApp({ config, logger: silentLogger() });
  const relay = await buildRelayApp({ config, logger: silentLogger() });
  apps = [ingress, worker, relay];
  await worker.ready();
  webhookUrl = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  relayUrl = await relay.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  for (const app of apps) await app.close();
  await deleteKeys(redis, config.queuePrefix);
  await truncateAll(handle);
  redis.disconnect();
  await handle.close();
});

describe('the watch page', () => {
  it("shows a played call's transcript live under the relay's CSP, and keeps a screenshot", async () => {
    const page = await browser.newPage({ viewport: { width: 720, height: 900 } });
    const complaints = complaintsOf(page);
    const loaded: string[] = [];
    page.on('requestfinished', (request) => loaded.push(new URL(request.url()).pathname));
    const answer = await page.goto(relayUrl);
    expect(answer?.headers()['content-security-policy']).toMatch(/script-src 'self';/);
    await page.fill('#token', tokenFor(config, 'pat-page'));
    await page.click('button[type=submit]');
    await page.waitForSelector('#conn:text-is("open")');

    const call = realisticCall({ patientId: 'pat-page' });
    for (const body of call.events) {
      const raw = JSON.stringify(body);
      expect((await fetch(webhookUrl, { method: 'POST', headers: hmacHeaders(raw), body: raw })).status).toBe(200);
    }
    await page.waitForSelector('.summary', { timeout: 15_000 });

    const bubbles = await page.$$eval('.bubble', (els) => els.map((el) => ({ className: el.className, text: el.textContent })));
    expect(bubbles.filter((b) => b.className.includes('partial'))).toEqual([]);
    expect(bubbles.map((b) => b.text)).toEqual(
      expect.arrayContaining([
        'Hello, this is the Riverside Clinic assistant. How can I help you today?',
        'Hi, I would like to move my appointment with Dr. Okafor.',
        'March third, nineteen eighty-four.',
      ]),
    );
    // One bubble per utterance, on the speaker's side (the two lanes may interleave the sides).
    expect(bubbles).toHaveLength(4);
    expect(bubbles.find((b) => b.text?.startsWith('Hi, I would'))?.className).toBe('bubble user');
    expect(bubbles.find((b) => b.text?.startsWith('Of course'))?.className).toBe('bubble assistant');
    expect(await page.textContent('#status')).toBe('ended');
    // Its script and style came from the relay's own files, and the browser refused nothing.
    expect(loaded).toEqual(expect.arrayContaining(['/watch.js', '/watch.css']));
    expect(complaints).toEqual([]);

    await mkdir(resolve('test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
