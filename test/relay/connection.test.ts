import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '#shared/config';
import { buildRelayApp } from '../../services/relay/app.ts';
import { CLOSE } from '../../services/relay/lib/relay-client.ts';
import { CLOCK_SKEW_S, signRelayToken } from '#shared/relay-token';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { craftToken, metricValue, openClient, streamUrl, tokenFor, upgradeResponse, upgradeStatus } from './relay-harness.ts';

const { track, reset, close } = integrationResources();
let config: Config;
let relay: FastifyInstance;
let url: string;

beforeAll(async () => {
  config = testConfig();
  [relay] = track(await buildRelayApp({ config, logger: silentLogger(), stream: { pingIntervalMs: 100 } }));
  await relay.listen({ host: '127.0.0.1', port: 0 });
  url = streamUrl(relay);
});
afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('relay connections', () => {
  it('refuses bad tokens with 401 before the upgrade', async () => {
    const valid = tokenFor(config, 'pat-1');
    const [header, , mac] = valid.split('.');
    const exp = Math.floor(Date.now() / 1000) + 600;
    const refused = {
      missing: {},
      expired: bearer(tokenFor(config, 'pat-1', { ttlS: -5 })),
      forged: bearer(`${header}.${b64({ sub: 'pat-2', exp })}.${mac}`),
      algNone: bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'pat-1', exp })}.`),
      wrongKey: bearer(signRelayToken({ patientId: 'pat-1', expiresAt: exp }, 'not-the-relay-secret')),
      malformed: bearer('not-a-jwt'),
    };
    for (const [name, headers] of Object.entries(refused)) expect([name, await upgradeStatus(url, headers)]).toEqual([name, 401]);
    expect(await upgradeStatus(`${url}?token=${tokenFor(config, 'pat-1', { ttlS: -5 })}`)).toBe(401);
    expect(await upgradeStatus(url, bearer(valid))).toBe(0);
    expect(await upgradeStatus(`${url}?token=${valid}`)).toBe(0);
    expect(await upgradeStatus(url.replace('/v1/stream', '/elsewhere'), bearer(valid))).toBe(404);
  });

  it('refuses tokens out of bounds with 401 before the upgrade, naming the reason', async () => {
    const now = Math.floor(Date.now() / 1000);
    const patientId = `pat-${randomUUID()}`;
    const outOfBounds: [Record<string, unknown>, string][] = [
      [{ exp: now + config.relayTokenMaxTtlS + CLOCK_SKEW_S + 60 }, 'token expires too far ahead'],
      [{ exp: 1e300 }, 'token expires too far ahead'],
      [{ exp: Date.now() + 600_000 }, 'token expires too far ahead'], // minted in milliseconds
      [{ exp: now + 600, nbf: now + 600 }, 'token not valid yet'],
      [{ exp: now + 600, iat: now + 600 }, 'token issued in the future'],
    ];
    for (const [dates, reason] of outOfBounds) {
      const refused = await upgradeResponse(url, bearer(craftToken({ sub: patientId, ...dates }, config.relayJwtSecret)));
      expect([dates, refused.status, JSON.parse(refused.body)]).toEqual([
        dates,
        401,
        { success: false, code: 'UNAUTHORIZED', message: expect.stringContaining(reason) },
      ]);
    }
  });

  it('closes a connection with 1008 exactly when its token expires, 30 days out (past setTimeout’s limit)', async () => {
    const own = await buildRelayApp({
      config: testConfig({ RELAY_TOKEN_MAX_TTL_S: String(30 * 86_400), QUEUE_PREFIX: config.queuePrefix }),
      logger: silentLogger(),
    });
    await own.listen({ host: '127.0.0.1', port: 0 });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const expiresAt = Math.floor(Date.now() / 1000) + 30 * 86_400;
      const client = await openClient(streamUrl(own), signRelayToken({ patientId: `pat-${randomUUID()}`, expiresAt }, config.relayJwtSecret));
      const expired = () => metricValue(own, 'vapi_relay_ws_closes_total', { code: String(CLOSE.policyViolation) });
      await vi.advanceTimersByTimeAsync(expiresAt * 1000 - Date.now() - 1);
      expect(await expired()).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(await expired()).toBe(1);
      expect(await client.closed).toBe(CLOSE.policyViolation);
    } finally {
      vi.useRealTimers();
      await own.close();
    }
  });

  it('answers a malformed message with BAD_REQUEST and keeps the connection', async () => {
    const client = await openClient(url, tokenFor(config, `pat-${randomUUID()}`));
    client.ws.send('{"type":"subscribe","sessionId":"s","afterSeq":-1}');
    await waitFor(() => client.received.length === 1);
    expect(client.received[0]).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    client.ws.close();
  });

  it('drops a peer that stops answering pings and keeps one that answers', async () => {
    const deadBefore = await metricValue(relay, 'vapi_relay_ws_closes_total', { code: 'dead' });
    const [silent, answering] = [
      await openClient(url, tokenFor(config, `pat-${randomUUID()}`), { autoPong: false }),
      await openClient(url, tokenFor(config, `pat-${randomUUID()}`)),
    ];
    let pings = 0;
    answering.ws.on('ping', () => pings++);
    expect(await silent.closed).toBe(1006);
    await waitFor(() => pings >= 3);
    expect(answering.ws.readyState).toBe(answering.ws.OPEN);
    expect(await metricValue(relay, 'vapi_relay_ws_closes_total', { code: 'dead' })).toBe(deadBefore + 1);
    answering.ws.close();
  });

  it('closes clients with 1001 on shutdown and counts connections on /metrics', async () => {
    const own = await buildRelayApp({ config, logger: silentLogger() });
    await own.listen({ host: '127.0.0.1', port: 0 });
    const clients = [await openClient(streamUrl(own), tokenFor(config, 'pat-a')), await openClient(streamUrl(own), tokenFor(config, 'pat-b'))];
    const metrics = await (await own.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/vapi_relay_ws_connections\{service="relay"\} 2/);
    await own.close();
    expect(await Promise.all(clients.map((client) => client.closed))).toEqual([CLOSE.goingAway, CLOSE.goingAway]);
  });
});
