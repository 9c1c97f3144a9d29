import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '#shared/config';
import { createLogger } from '#shared/logger';
import { buildRelayApp } from '../../services/relay/app.ts';
import { MAX_HELD_EVENTS, MAX_REPLAYS, SUBSCRIBES } from '../../services/relay/lib/limits.ts';
import { CLOSE } from '../../services/relay/lib/relay-client.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { eventWriter, metricValue, openClient, pageReadsWaitingOnLock, range, streamUrl, tokenFor, type TestClient } from './relay-harness.ts';

const { handle, redis, track, reset, close } = integrationResources();
const config = testConfig();
const writer = eventWriter(config, handle, redis);
const clients: TestClient[] = [];

async function startRelay(options: { config?: Config; logger?: ReturnType<typeof silentLogger>; maxBufferedBytes?: number } = {}) {
  const stream = options.maxBufferedBytes ? { maxBufferedBytes: options.maxBufferedBytes } : {};
  const relay = await buildRelayApp({ config: options.config ?? config, logger: options.logger ?? silentLogger(), stream });
  track(relay);
  await relay.listen({ host: '127.0.0.1', port: 0 });
  return relay;
}
const connect = async (relay: FastifyInstance, patientId: string) => {
  const client = await openClient(streamUrl(relay), tokenFor(config, patientId));
  clients.push(client);
  return client;
};
const errors = (client: TestClient, code: string) => client.received.filter((m) => m.type === 'error' && m.code === code).length;
const servedSessions = (client: TestClient) => [...new Set(client.received.filter((m) => typeof m.seq === 'number').map((m) => m.sessionId))];
const queries = (relay: FastifyInstance) => metricValue(relay, 'vapi_relay_replay_queries_total');

afterEach(async () => {
  vi.useRealTimers();
  for (const client of clients.splice(0)) client.ws.terminate();
  await reset(config.queuePrefix);
});
afterAll(close);

describe('a relay client', () => {
  it('answers subscribes past its allowance with RATE_LIMITED, reads nothing for them, and reads the socket again only once the next is due', async () => {
    const relay = await startRelay();
    const patient = `pat-${randomUUID()}`;
    const sessions = await Promise.all(range(1, SUBSCRIBES.burst + 2).map(() => writer.session(patient)));
    for (const session of sessions) await writer.store(session, [1]);
    const [client, probe] = [await connect(relay, patient), await connect(relay, `pat-${randomUUID()}`)];
    const before = await queries(relay);
    // postgres.js opens connections on a timer: open the relay's whole pool before the clock is faked.
    await Promise.all(range(1, 5).map(() => relay.db.execute(sql`select pg_sleep(0.05)`)));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }); // the allowance refills only when the test moves the clock

    for (const session of sessions.slice(0, SUBSCRIBES.burst)) {
      client.subscribe(session, 0);
      await client.until(() => client.seqs(session).length === 1);
    }
    const extra = sessions[SUBSCRIBES.burst]!;
    client.subscribe(extra, 0);
    await client.until(() => errors(client, 'RATE_LIMITED') === 1);
    expect(servedSessions(client)).toEqual(sessions.slice(0, SUBSCRIBES.burst));
    expect((await queries(relay)) - before).toBe(SUBSCRIBES.burst);

    // Sent while the socket is not read: a round trip on another socket gives the relay every
    // chance to read it, and it does not (were it read, it would be refused: the clock stood still).
    const late = sessions[SUBSCRIBES.burst + 1]!;
    client.subscribe(late, 0);
    probe.ws.send('not json');
    await probe.until(() => errors(probe, 'BAD_REQUEST') === 1);
    expect(await metricValue(relay, 'vapi_relay_rate_limited_total', { limit: 'subscribes' })).toBe(1);

    vi.advanceTimersByTime(1000 / SUBSCRIBES.perSecond);
    await client.until(() => client.seqs(late).length === 1);
    expect(errors(client, 'RATE_LIMITED')).toBe(1);
    expect(client.seqs(extra)).toEqual([]);
    expect((await queries(relay)) - before).toBe(SUBSCRIBES.burst + 1);
  });

  it(`runs one replay per session and ${MAX_REPLAYS} at most: a subscribe past them is refused, and nothing is sent twice`, async () => {
    const relay = await startRelay();
    const patient = `pat-${randomUUID()}`;
    const sessions = await Promise.all(range(1, MAX_REPLAYS + 1).map(() => writer.session(patient)));
    for (const session of sessions) await writer.store(session, range(1, 3));
    const client = await connect(relay, patient);
    const before = await queries(relay);
    const [first, ...others] = sessions.slice(0, MAX_REPLAYS);
    const beyond = sessions[MAX_REPLAYS]!;
    await handle.sql.begin(async (tx) => {
      await tx`lock table session_events in access exclusive mode`;
      client.subscribe(first!, 0);
      await waitFor(async () => (await pageReadsWaitingOnLock(handle)) === 1);
      client.subscribe(first!, 0);
      await client.until(() => errors(client, 'RATE_LIMITED') === 1);
      for (const session of others) client.subscribe(session, 0);
      await waitFor(async () => (await pageReadsWaitingOnLock(handle)) === MAX_REPLAYS);
      client.subscribe(beyond, 0);
      await client.until(() => errors(client, 'RATE_LIMITED') === 2);
    });
    await waitFor(() => sessions.slice(0, MAX_REPLAYS).every((session) => client.seqs(session).length === 3));
    for (const session of sessions.slice(0, MAX_REPLAYS)) expect(client.seqs(session)).toEqual([1, 2, 3]);
    expect(client.seqs(beyond)).toEqual([]);
    expect((await queries(relay)) - before).toBe(MAX_REPLAYS);
    expect(await metricValue(relay, 'vapi_relay_rate_limited_total', { limit: 'replays' })).toBe(2);
    // Once they have ended, the refused one may subscribe again.
    client.subscribe(beyond, 0);
    await waitFor(() => client.seqs(beyond).length === 3);
  });

  it('replays a large session a page at a time to a client that stops reading, holding little for it, then goes on live without gap or duplicate', async () => {
    const maxBufferedBytes = 64 * 1024;
    const relay = await startRelay({ maxBufferedBytes });
    // The relay's end of the client's TCP connection: what it holds unsent is its writable length.
    const sockets: Socket[] = [];
    relay.server.on('upgrade', (_request, socket: Socket) => sockets.push(socket));
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    const stored = await writer.store(session, range(1, 2_000), { padding: 4_000 }); // 8 MB: twice what the kernel's buffers take
    const largest = Math.max(...stored.map((event) => Buffer.byteLength(JSON.stringify(event))));
    const client = await connect(relay, patient);
    const held = sockets[0]!;
    client.ws.pause();
    client.subscribe(session, 0);
    // The kernel's buffers are full and the relay holds a quarter of what would close the client: there it waits.
    await waitFor(() => held.writableLength >= maxBufferedBytes / 4, 10_000);
    let most = held.writableLength;
    const sampler = setInterval(() => (most = Math.max(most, held.writableLength)), 1);
    try {
      await writer.storeAndPublish(patient, session, range(2_001, 2_010)); // live while the replay waits
      client.ws.resume();
      await waitFor(() => client.seqs(session).includes(2_010), 15_000);
    } finally {
      clearInterval(sampler);
    }
    expect(client.seqs(session)).toEqual(range(1, 2_010));
    expect(most).toBeLessThanOrEqual(maxBufferedBytes / 4 + largest); // a quarter, and the one event that crossed it
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    expect(await metricValue(relay, 'vapi_relay_ws_closes_total', { code: String(CLOSE.tryAgainLater) })).toBe(0);
  });

  it(`closes with 1013 a client for which more than ${MAX_HELD_EVENTS} live events pile up during a replay`, async () => {
    const relay = await startRelay();
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    const client = await connect(relay, patient);
    const live = (seq: number) => ({
      type: 'transcript' as const,
      sessionId: session,
      seq,
      at: new Date().toISOString(),
      data: { role: 'user', transcript: `utterance ${seq}`, final: true },
    });
    await handle.sql.begin(async (tx) => {
      await tx`lock table session_events in access exclusive mode`;
      client.subscribe(session, 0);
      await waitFor(async () => (await pageReadsWaitingOnLock(handle)) === 1);
      await writer.publish(patient, range(1, MAX_HELD_EVENTS + 1).map(live));
      expect(await client.closed).toBe(CLOSE.tryAgainLater);
    });
  });

  it('answers a replay Postgres cannot serve with UNAVAILABLE and logs why, once, without health data; a hole it cannot fill is passed', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'info',
      service: 'test',
      pretty: false,
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const relay = await startRelay({
      config: testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable', QUEUE_PREFIX: config.queuePrefix }),
      logger,
    });
    const patient = `pat-${randomUUID()}`;
    const client = await connect(relay, patient);
    client.subscribe('call-unreadable', 4);
    await client.until(() => errors(client, 'UNAVAILABLE') === 1);
    const live = (seq: number) => ({
      type: 'transcript' as const,
      sessionId: 'call-live',
      seq,
      at: new Date().toISOString(),
      data: { role: 'user', transcript: 'my chest hurts', final: true },
    });
    await writer.publish(patient, [live(1), live(3)]);
    await waitFor(() => client.seqs('call-live').length === 2);
    expect(client.seqs('call-live')).toEqual([1, 3]);

    const failures = lines.filter((line) => line.level === 40);
    expect(failures).toEqual([
      expect.objectContaining({
        sessionId: 'call-unreadable',
        afterSeq: 4,
        reason: expect.stringContaining('ECONNREFUSED'),
        msg: expect.stringContaining('replay could not be read'),
      }),
      expect.objectContaining({
        sessionId: 'call-live',
        afterSeq: 1,
        reason: expect.stringContaining('ECONNREFUSED'),
        msg: expect.stringContaining('fill could not be read'),
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('chest');
  });
});
