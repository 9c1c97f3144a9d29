import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { eventsQueue } from '#shared/queues/events-queue';
import { DASHBOARD_PATH } from '../../services/ingress/plugins/queue-dashboard.ts';
import { adminState, adminTargets, DAMAGING_BODY, startSeededIngress, type SeededJobs } from '../helpers/admin-surface.ts';
import { complaintsOf, launchChromium } from '../helpers/chromium.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { integrationResources } from '../helpers/resources.ts';

const SCREENSHOT = resolve('test-artifacts/queue-dashboard.png');

const resources = integrationResources();
const { handle, reset, close } = resources;
let config: Config;
let ingress: FastifyInstance;
let seeded: SeededJobs;

const bearer = () => ({ authorization: `Bearer ${config.adminToken}` });

beforeEach(async () => {
  ({ config, ingress, seeded } = await startSeededIngress(resources));
});
afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('the queue dashboard', () => {
  it("refuses every one of bull-board's mutating routes to an authenticated operator, and every job stays as it was", async () => {
    const mutating = adminTargets(ingress, seeded).filter(({ method, path }) => path.startsWith(DASHBOARD_PATH) && method !== 'GET' && method !== 'HEAD');
    // Whatever this bull-board version registers: retry, clean, empty, obliterate, pause, add, update data, promote, ...
    expect(mutating.map(({ path }) => path.split('/').at(-1))).toEqual(
      expect.arrayContaining(['retry', 'clean', 'empty', 'obliterate', 'pause', 'resume', 'add', 'update-data', 'promote', 'failed']),
    );
    const before = await adminState(ingress.queues, handle);
    const port = (ingress.server.address() as AddressInfo).port;
    for (const { method, path } of mutating) {
      const refused = await rawRequest(port, { method, target: path, headers: bearer(), body: DAMAGING_BODY });
      expect(refused.status, `${method} ${path}`).toBe(405);
      expect(JSON.parse(refused.body)).toEqual({ success: false, code: 'READ_ONLY', message: expect.stringContaining('/admin/dlq/replay') });
    }
    const after = await adminState(ingress.queues, handle);
    expect(after).toEqual(before);
    expect(after.queues.map((queue) => queue.paused)).toEqual(after.queues.map(() => false));
    expect(
      after.queues
        .find((queue) => queue.key === 'events')!
        .jobs.map((job) => job.state)
        .sort(),
    ).toEqual(['completed', 'completed', 'failed', 'waiting']);

    // bull-board itself is told so, and the board says where replays go.
    const { queues } = (await ingress.inject({ url: `${DASHBOARD_PATH}/api/queues`, headers: bearer() })).json() as {
      queues: { readOnlyMode: boolean; allowRetries: boolean; description: string }[];
    };
    expect(queues.length).toBe(Object.keys(ingress.queues).length);
    for (const queue of queues) expect(queue).toMatchObject({ readOnlyMode: true, allowRetries: false, description: expect.stringContaining('npm run dlq') });
  });

  it('renders in Chromium under its CSP with nothing refused, and keeps a screenshot', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, httpCredentials: { username: 'ops', password: config.adminToken } });
      // The board's typeface comes from Google Fonts, which this machine cannot reach: answer for it.
      await context.route(/^https:\/\/fonts\.(googleapis|gstatic)\.com\//, (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
      const page = await context.newPage();
      const complaints = complaintsOf(page);
      const answer = await page.goto(
        `http://127.0.0.1:${(ingress.server.address() as AddressInfo).port}${DASHBOARD_PATH}/queue/${eventsQueue.name}?status=failed`,
      );
      expect(answer?.status()).toBe(200);
      expect(answer?.headers()['content-security-policy']).toMatch(/script-src 'self';/);
      await page.getByText('Database error 22003').first().waitFor({ timeout: 15_000 });
      expect(await page.getByRole('button', { name: /retry|clean|empty|obliterate|pause|promote|add job/i }).count()).toBe(0);
      await mkdir(resolve('test-artifacts'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(complaints).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
