import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterEach, afterAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';

const { track, reset, close } = integrationResources();
let app: FastifyInstance;
let config: Config;
let url: URL;

/** A POST from a given loopback source address (127.0.0.x), as a distinct client would send it. */
function postFrom(localAddress: string, body: string, headers: Record<string, string>): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', localAddress, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, retryAfter: response.headers['retry-after'] as string | undefined, body: text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function start(overrides: Record<string, string> = {}) {
  config = testConfig(overrides);
  [app] = track(await buildIngressApp({ config, logger: silentLogger() }));
  url = new URL(`${await app.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`);
}

afterEach(() => reset(config.queuePrefix));
afterAll(close);

describe('rate limits', () => {
  it('answer the 51st failed authentication from one IP with 429, while another IP is served', async () => {
    await start();
    const body = JSON.stringify(realisticCall().events[0]);
    const forged = { 'content-type': 'application/json', 'x-vapi-signature': 'ab'.repeat(32) };
    for (let i = 0; i < 50; i++) expect((await postFrom('127.0.0.2', body, forged)).status).toBe(401);
    const limited = await postFrom('127.0.0.2', body, forged);
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.body)).toMatchObject({ success: false, code: 'RATE_LIMITED' });
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    // Even a correct signature from the limited address waits; another address is not affected.
    expect((await postFrom('127.0.0.2', body, hmacHeaders(body))).status).toBe(429);
    expect((await postFrom('127.0.0.3', body, hmacHeaders(body))).status).toBe(200);
  });

  it('hold across ingress replicas: a budget spent on one is enforced on the other from the next failure', async () => {
    await start();
    const other = await buildIngressApp({ config, logger: silentLogger() });
    try {
      const otherUrl = new URL(`${await other.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`);
      const body = JSON.stringify(realisticCall().events[0]);
      const forged = { 'content-type': 'application/json', 'x-vapi-signature': 'cd'.repeat(32) };
      for (let i = 0; i < 50; i++) expect((await postFrom('127.0.0.4', body, forged)).status).toBe(401);
      const first = url;
      url = otherUrl;
      expect((await postFrom('127.0.0.4', body, forged)).status).toBe(429);
      expect((await postFrom('127.0.0.4', body, hmacHeaders(body))).status).toBe(429);
      url = first;
    } finally {
      await other.close();
    }
  });

  it('never throttle verified traffic unless RATE_LIMIT_VERIFIED_PER_MIN asks', async () => {
    await start();
    const call = realisticCall();
    for (const event of call.events.slice(0, 3)) {
      for (let i = 0; i < 30; i++) {
        const body = JSON.stringify({ message: { ...event.message, timestamp: Date.now() + i } });
        expect((await postFrom('127.0.0.4', body, hmacHeaders(body))).status).toBe(200);
      }
    }
    await reset(config.queuePrefix);

    await start({ RATE_LIMIT_VERIFIED_PER_MIN: '3' });
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const body = JSON.stringify({ message: { ...call.events[1]!.message, timestamp: Date.now() + i } });
      statuses.push((await postFrom('127.0.0.5', body, hmacHeaders(body))).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
