import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildRelayApp } from '../../services/relay/app.ts';
import { REPLAY_BUDGET } from '../../services/relay/lib/limits.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { eventWriter, metricValue, openClient, range, streamUrl, tokenFor, upgradeResponse, type TestClient } from './relay-harness.ts';

const { handle, redis, track, reset, close } = integrationResources();
const config = testConfig();
const writer = eventWriter(config, handle, redis);
const MAX = config.relayMaxSocketsPerPatient;
let relay: FastifyInstance;
let url: string;
const clients: TestClient[] = [];

const bearer = (patientId: string) => ({ authorization: `Bearer ${tokenFor(config, patientId)}` });
const connect = async (patientId: string) => {
  const client = await openClient(url, tokenFor(config, patientId));
  clients.push(client);
  return client;
};
/** Connects as soon as the patient has a free place again (a closed socket's place comes back once its TCP connection is gone). */
const connectOnceFree = (patientId: string) => waitFor(() => connect(patientId).catch(() => false));
const connections = () => metricValue(relay, 'vapi_relay_ws_connections');

/** A handshake the WebSocket server itself refuses (an unknown protocol version), with a valid token. */
function brokenHandshake(patientId: string): Promise<string> {
  const { port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port: Number(port) }, () =>
      socket.write(
        `GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Sec-WebSocket-Version: 99\r\nAuthorization: ${bearer(patientId).authorization}\r\n\r\n`,
      ),
    );
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer.split('\r\n')[0]!));
    socket.on('error', reject);
  });
}

beforeEach(async () => {
  relay = await buildRelayApp({ config, logger: silentLogger() });
  track(relay);
  await relay.listen({ host: '127.0.0.1', port: 0 });
  url = streamUrl(relay);
});
afterEach(async () => {
  vi.useRealTimers();
  for (const client of clients.splice(0)) client.ws.terminate();
  await reset(config.queuePrefix);
});
afterAll(close);

describe('limits per patient', () => {
  it(`refuses a patient's socket past ${MAX} with 429 before the upgrade, gives a place back however a socket ends, and leaves other patients alone`, async () => {
    const patient = `pat-${randomUUID()}`;
    const own = await Promise.all(range(1, MAX).map(() => connect(patient)));
    const refused = await upgradeResponse(url, bearer(patient));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(refused.body)).toMatchObject({ success: false, code: 'RATE_LIMITED', message: expect.stringContaining(`${MAX}`) });
    expect((await upgradeResponse(url, bearer(`pat-${randomUUID()}`))).status).toBe(0);
    // The same patient through the query string is the same patient.
    expect((await upgradeResponse(`${url}?token=${tokenFor(config, patient)}`)).status).toBe(429);

    // A close frame, a connection cut without one: either gives the place back, once.
    own[0]!.ws.close();
    await connectOnceFree(patient);
    expect((await upgradeResponse(url, bearer(patient))).status).toBe(429);
    own[1]!.ws.terminate();
    await connectOnceFree(patient);
    expect((await upgradeResponse(url, bearer(patient))).status).toBe(429);

    // A handshake that takes a place and then fails gives it back too.
    const before = await connections();
    own[2]!.ws.close();
    await waitFor(async () => (await connections()) === before - 1);
    expect(await brokenHandshake(patient)).toBe('HTTP/1.1 400 Bad Request');
    await connectOnceFree(patient);
    expect((await upgradeResponse(url, bearer(patient))).status).toBe(429);
    expect(await metricValue(relay, 'vapi_relay_rate_limited_total', { limit: 'sockets' })).toBeGreaterThanOrEqual(5);
  });

  it("paces a patient's replays past its budget, and a reconnect does not refill it", async () => {
    vi.useFakeTimers({ toFake: ['Date'] }); // the budget refills only when the test moves the clock
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    const total = REPLAY_BUDGET.burst + 150;
    await writer.store(session, range(1, total));
    const first = await connect(patient);
    first.subscribe(session, 0);
    // The burst goes out at once, and not one event more while the clock stands still.
    await waitFor(() => first.seqs(session).length === REPLAY_BUDGET.burst);
    first.ws.close();
    await first.closed;

    const second = await connect(patient);
    second.subscribe(session, REPLAY_BUDGET.burst);
    vi.setSystemTime(Date.now() + (100 * 1000) / REPLAY_BUDGET.perSecond);
    await waitFor(() => second.seqs(session).length === 100);
    vi.setSystemTime(Date.now() + (100 * 1000) / REPLAY_BUDGET.perSecond);
    await waitFor(() => second.seqs(session).length === 150);
    expect([...first.seqs(session), ...second.seqs(session)]).toEqual(range(1, total));
  });
});
