import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { sessionEvents } from '#shared/db/schema';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { CLOSE } from '../../services/relay/lib/relay-client.ts';
import { REPLAY_BUDGET, REPLAY_PAGE_EVENTS } from '../../services/relay/lib/limits.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { isLiveOnlyBody, realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { eventWriter, metricValue, openClient, pageReadsWaitingOnLock, range, streamUrl, tokenFor, type TestClient } from './relay-harness.ts';

const { handle, redis, track, reset, close } = integrationResources();
let config: Config;
let ingress: FastifyInstance;
let worker: FastifyInstance;
let relays: FastifyInstance[];
let urls: string[];
let webhookUrl: string;
let writer: ReturnType<typeof eventWriter>;
const clients: TestClient[] = [];

const connect = async (url: string, patientId: string, sessionId?: string) => {
  const client = await openClient(url, tokenFor(config, patientId, sessionId ? { sessionId } : {}));
  clients.push(client);
  return client;
};

async function post(body: VapiBody) {
  const raw = JSON.stringify(body);
  const response = await fetch(webhookUrl, { method: 'POST', headers: hmacHeaders(raw), body: raw });
  expect(response.status).toBe(200);
}

const storedSeqs = async (sessionId: string) =>
  (await handle.db.select({ seq: sessionEvents.seq }).from(sessionEvents).where(eq(sessionEvents.sessionId, sessionId)))
    .map((r) => r.seq)
    .sort((a, b) => a - b);

const completedEvents = async () => (await ingress.queues.events.getJobCounts('completed')).completed ?? 0;

const hasEnded = (client: TestClient, sessionId: string) => client.received.some((m) => m.sessionId === sessionId && m.type === 'session_end');

beforeAll(async () => {
  config = testConfig();
  await reset(config.queuePrefix);
  [ingress, worker] = track(await buildIngressApp({ config, logger: silentLogger() }), await buildWorkerApp({ config, logger: silentLogger() }));
  await worker.ready();
  webhookUrl = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  relays = track(await buildRelayApp({ config, logger: silentLogger() }), await buildRelayApp({ config, logger: silentLogger() }));
  for (const relay of relays) await relay.listen({ host: '127.0.0.1', port: 0 });
  urls = relays.map(streamUrl);
  writer = eventWriter(config, handle, redis);
});
afterAll(async () => {
  for (const client of clients) client.ws.terminate();
  await reset(config.queuePrefix);
  await close();
});

describe('relay: two instances, a worker and an ingress', () => {
  it("delivers a patient's call to clients on either relay in seq order, and nothing to another patient", async () => {
    const patient = `pat-${randomUUID()}`;
    const [onA, onB, other] = [await connect(urls[0]!, patient), await connect(urls[1]!, patient), await connect(urls[0]!, `pat-${randomUUID()}`)];
    const call = realisticCall({ patientId: patient });
    const completedBefore = await completedEvents();
    for (const body of call.events) await post(body);
    // Workers store concurrently, so the session's end is not always its last event: wait for them all.
    await waitFor(async () => (await completedEvents()) === completedBefore + call.events.filter((body) => !isLiveOnlyBody(body)).length, 15_000);
    const stored = await storedSeqs(call.callId);
    await waitFor(() => [onA, onB].every((client) => hasEnded(client, call.callId) && client.seqs(call.callId).length >= stored.length), 15_000);

    expect(stored).toEqual(range(1, stored.length));
    for (const client of [onA, onB]) {
      expect(client.seqs(call.callId)).toEqual(stored);
      expect(client.received.every((m) => m.sessionId === call.callId)).toBe(true);
      // Partial transcripts arrive live, without a seq.
      expect(client.received.some((m) => m.type === 'transcript' && (m.data as { final: boolean }).final === false && m.seq === undefined)).toBe(true);
    }
    expect(other.received).toEqual([]);
  });

  it("answers a subscribe to another patient's session with FORBIDDEN and sends nothing of it", async () => {
    const [owner, stranger] = [`pat-${randomUUID()}`, `pat-${randomUUID()}`];
    const session = await writer.session(owner);
    await writer.store(session, range(1, 3));
    const intruder = await connect(urls[1]!, stranger);
    intruder.subscribe(session, 0);
    await waitFor(() => intruder.received.length > 0);
    await writer.storeAndPublish(owner, session, [4]);
    // A follow-up on the intruder's own channel proves everything before it has been processed.
    await writer.publish(stranger, [{ type: 'speech', sessionId: 'own', at: new Date().toISOString(), data: { role: 'user', status: 'started' } }]);
    await waitFor(() => intruder.received.length === 2);
    expect(intruder.received).toEqual([{ type: 'error', code: 'FORBIDDEN' }, expect.objectContaining({ sessionId: 'own' })]);
  });

  it('limits a token with sid to that session: others are forbidden and not relayed', async () => {
    const patient = `pat-${randomUUID()}`;
    const [mine, sibling] = [await writer.session(patient), await writer.session(patient)];
    const client = await connect(urls[0]!, patient, mine);
    client.subscribe(sibling, 0);
    await waitFor(() => client.received.length > 0);
    await writer.storeAndPublish(patient, sibling, [1]);
    await writer.storeAndPublish(patient, mine, [1]);
    await waitFor(() => client.received.length === 2);
    expect(client.received[0]).toEqual({ type: 'error', code: 'FORBIDDEN' });
    expect(client.received[1]).toMatchObject({ sessionId: mine, seq: 1 });
  });

  it('resumes a call after a disconnect with afterSeq: exactly the missed events, then live, no duplicate', async () => {
    const patient = `pat-${randomUUID()}`;
    const call = realisticCall({ patientId: patient });
    const durable = call.events.filter((body) => !isLiveOnlyBody(body));
    const cut = call.events.indexOf(durable[5]!);
    const first = await connect(urls[0]!, patient);
    const before = await completedEvents();
    for (const body of call.events.slice(0, cut)) await post(body);
    await waitFor(async () => (await completedEvents()) === before + 5);
    await waitFor(async () => first.seqs(call.callId).length === (await storedSeqs(call.callId)).length);
    first.ws.close();
    await first.closed;
    const seen = first.seqs(call.callId);
    const lastSeen = seen.at(-1)!;

    for (const body of call.events.slice(cut, cut + 8)) await post(body); // missed while away
    const second = await connect(urls[1]!, patient);
    second.subscribe(call.callId, lastSeen);
    for (const body of call.events.slice(cut + 8)) await post(body);
    await waitFor(() => hasEnded(second, call.callId), 15_000);

    const stored = await storedSeqs(call.callId);
    expect(second.seqs(call.callId)).toEqual(range(lastSeen + 1, stored.length));
    expect([...seen, ...second.seqs(call.callId)]).toEqual(stored);
  });

  it('joins replay and live without gap or duplicate while events arrive during the replay', async () => {
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    await writer.store(session, range(1, 10));
    const client = await connect(urls[1]!, patient);
    // Hold the replay's read behind a table lock, publish live events meanwhile, then let it go.
    await handle.sql.begin(async (tx) => {
      await tx`lock table session_events in access exclusive mode`;
      client.subscribe(session, 3);
      await waitFor(async () => (await pageReadsWaitingOnLock(handle)) === 1);
      await writer.publish(
        patient,
        range(8, 10).map((seq) => ({
          type: 'transcript',
          sessionId: session,
          seq,
          at: new Date().toISOString(),
          data: { role: 'user', transcript: `utterance ${seq}`, final: true },
        })),
      );
      await tx`insert into session_events (session_id, seq, type, at, data, dispatched_at) values (${session}, 11, 'transcript', now(), ${writer.cipher.encryptJson({ role: 'user', transcript: 'late', final: true })}, now())`;
    });
    await writer.publish(patient, [
      { type: 'transcript', sessionId: session, seq: 11, at: new Date().toISOString(), data: { role: 'user', transcript: 'late', final: true } },
    ]);
    await writer.storeAndPublish(patient, session, [12]);
    await waitFor(() => client.seqs(session).includes(12));
    expect(client.seqs(session)).toEqual(range(4, 12));
  });

  it('fills a hole in seq from Postgres and drops repeats', async () => {
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    const client = await connect(urls[0]!, patient);
    const events = await writer.store(session, range(1, 6));
    await writer.publish(patient, [events[0]!, events[1]!, events[1]!, events[4]!, events[2]!, events[5]!]);
    await waitFor(() => client.seqs(session).includes(6));
    expect(client.seqs(session)).toEqual(range(1, 6));
  });

  it('serves a mass reconnect to one session from one read', async () => {
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    const stored = range(1, REPLAY_PAGE_EVENTS / 2);
    await writer.store(session, stored);
    // As many of the patient's devices as its replay budget serves at once, all resuming the same call.
    const crowd = await Promise.all(range(1, REPLAY_BUDGET.burst / REPLAY_PAGE_EVENTS).map(() => connect(urls[0]!, patient)));
    const before = await metricValue(relays[0]!, 'vapi_relay_replay_queries_total');
    for (const client of crowd) client.subscribe(session, 0);
    await waitFor(() => crowd.every((client) => client.seqs(session).length === stored.length));
    for (const client of crowd) expect(client.seqs(session)).toEqual(stored);
    expect((await metricValue(relays[0]!, 'vapi_relay_replay_queries_total')) - before).toBe(1);
  });

  it("shares no read begun before the patient's events reached this relay: a client reconnecting meanwhile reads again", async () => {
    const patient = `pat-${randomUUID()}`;
    const session = await writer.session(patient);
    await writer.store(session, range(1, 5));
    const before = await metricValue(relays[1]!, 'vapi_relay_replay_queries_total');
    let late: TestClient | undefined;
    const connections = () => metricValue(relays[1]!, 'vapi_relay_ws_connections');
    const othersConnected = await connections();
    await handle.sql.begin(async (tx) => {
      await tx`lock table session_events in access exclusive mode`;
      const early = await connect(urls[1]!, patient);
      early.subscribe(session, 0);
      await waitFor(async () => (await pageReadsWaitingOnLock(handle)) === 1);
      // The patient's last client leaves while the read waits, so the relay stops receiving its events.
      early.ws.close();
      await waitFor(async () => (await connections()) === othersConnected);
      late = await connect(urls[1]!, patient);
      late.subscribe(session, 0);
      await waitFor(async () => (await pageReadsWaitingOnLock(handle)) === 2);
    });
    await waitFor(() => late!.seqs(session).length === 5);
    expect(late!.seqs(session)).toEqual(range(1, 5));
    expect((await metricValue(relays[1]!, 'vapi_relay_replay_queries_total')) - before).toBe(2);
  });

  it('closes a client that stops reading with 1013 while the others keep receiving', async () => {
    const relay = await buildRelayApp({ config, logger: silentLogger(), stream: { maxBufferedBytes: 64 * 1024 } });
    await relay.listen({ host: '127.0.0.1', port: 0 });
    try {
      const patient = `pat-${randomUUID()}`;
      const [slow, healthy] = [await openClient(streamUrl(relay), tokenFor(config, patient)), await openClient(streamUrl(relay), tokenFor(config, patient))];
      slow.ws.pause();
      const partial = (i: number) => ({
        type: 'transcript' as const,
        sessionId: 's',
        at: new Date().toISOString(),
        data: { role: 'user', transcript: `${i} ${'x'.repeat(16 * 1024)}`, final: false },
      });
      let sent = 0;
      while ((await metricValue(relay, 'vapi_relay_ws_closes_total', { code: String(CLOSE.tryAgainLater) })) === 0 && sent < 5_000) {
        await writer.publish(patient, range(sent, sent + 19).map(partial));
        sent += 20;
        await waitFor(() => healthy.received.length === sent, 10_000);
      }
      expect(sent).toBeLessThan(5_000);
      await writer.publish(patient, [partial(sent)]);
      await waitFor(() => healthy.received.length === sent + 1);
      slow.ws.resume();
      expect(await slow.closed).toBe(CLOSE.tryAgainLater);
      expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
      healthy.ws.close();
    } finally {
      await relay.close();
    }
  });
});
