import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { JobCodec } from '#shared/queues/codec';
import { liveQueue } from '#shared/queues/live-queue';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { openForPatient, patientOfChannel } from '#shared/relay-messages';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { SEED_PATIENTS } from '../../scripts/seed/clinic-data.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { openQueue } from '../helpers/queues.ts';
import { openTestRedis } from '../helpers/redis.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { metricValue, openClient, streamUrl, tokenFor, type TestClient } from '../relay/relay-harness.ts';

const { handle, redis, track, closeApps, reset, close } = integrationResources();
let config: Config;

async function stack(overrides: Record<string, string>) {
  // Same queues and keys as the first stack, whatever else changes.
  const stackConfig = testConfig({ ...overrides, QUEUE_PREFIX: config.queuePrefix });
  const ingress = await buildIngressApp({ config: stackConfig, logger: silentLogger() });
  const worker = await buildWorkerApp({ config: stackConfig, logger: silentLogger() });
  await worker.ready();
  track(ingress, worker);
  const post = async (body: VapiBody) => {
    const raw = JSON.stringify(body);
    return ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
  };
  return { ingress, worker, post };
}

afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('the live lane', () => {
  it('relays partial transcripts with Postgres unreachable, to the bound patient only, storing nothing', async () => {
    config = testConfig();
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    const subscriber = openTestRedis();
    const received: RelayEvent[] = [];
    subscriber.on('pmessage', (_pattern, channel: string, text: string) =>
      received.push({ ...openForPatient(cipher, patientOfChannel(config.queuePrefix, channel)!, text), channel } as RelayEvent),
    );
    await subscriber.psubscribe(patientChannel(config.queuePrefix, '*'));

    // While the database is up, the durable lane records who each call is about.
    const bound = realisticCall({ patientId: 'pat-live' });
    const unbound = realisticCall();
    const healthy = await stack({});
    for (const call of [bound, unbound]) for (const body of call.events.slice(0, 3)) expect((await healthy.post(body)).statusCode).toBe(200);
    await waitFor(() => received.some((event) => event.sessionId === bound.callId && event.type === 'session_status'));
    await closeApps();
    const rowsBefore = await handle.sql`select (select count(*) from vapi_events) as events, (select count(*) from vapi_messages) as messages`;

    // Then the database goes away for the processes carrying the live lane.
    const cut = await stack({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable' });
    received.length = 0;
    const partials = (call: typeof bound) => call.events.filter((body) => body.message.transcriptType === 'partial');
    for (const body of [...partials(unbound), ...partials(bound)]) expect((await cut.post(body)).json()).toEqual({ received: true });

    await waitFor(() => received.filter((event) => event.type === 'transcript').length === partials(bound).length);
    expect(received.every((event) => event.sessionId === bound.callId && event.data.final === false && event.seq === undefined)).toBe(true);
    expect(received.every((event) => (event as RelayEvent & { channel: string }).channel === patientChannel(config.queuePrefix, 'pat-live'))).toBe(true);
    expect(await handle.sql`select (select count(*) from vapi_events) as events, (select count(*) from vapi_messages) as messages`).toEqual(rowsBefore);
    subscriber.disconnect();
  });
});

describe("the live lane, seen on the patient's socket", () => {
  let worker: FastifyInstance;
  let post: (body: VapiBody) => Promise<{ statusCode: number; json(): unknown }>;
  let relayUrl: string;
  const sockets: TestClient[] = [];
  const observer = openTestRedis();
  /** Every event published to any patient of the test, and on which channel. */
  let published: { channel: string; event: RelayEvent }[];
  observer.on('pmessage', (_pattern, channel: string, text: string) =>
    published.push({ channel, event: openForPatient(new FieldCipher(config.dataEncryptionKeys), patientOfChannel(config.queuePrefix, channel)!, text) }),
  );

  beforeEach(async () => {
    config = testConfig();
    ({ worker, post } = await stack({}));
    const [relay] = track(await buildRelayApp({ config, logger: silentLogger() }));
    await relay.listen({ host: '127.0.0.1', port: 0 });
    relayUrl = streamUrl(relay);
    published = [];
    await observer.psubscribe(patientChannel(config.queuePrefix, '*'));
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.ws.terminate();
    await observer.punsubscribe();
  });
  afterAll(() => observer.disconnect());

  /** The patient's app, connected once its relay listens on the patient's channel (nothing published from then on can miss it). */
  async function app(patientId: string): Promise<TestClient> {
    const client = await openClient(relayUrl, tokenFor(config, patientId));
    sockets.push(client);
    const channel = patientChannel(config.queuePrefix, patientId);
    await waitFor(async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] > 0);
    return client;
  }
  const partials = (client: TestClient) => client.received.filter((m) => m.type === 'transcript' && (m.data as { final: boolean }).final === false);
  /** Live jobs the worker finished with `outcome`: each published once at most, so a count is a point after which nothing more comes. */
  const liveJobs = (outcome?: string) => metricValue(worker, 'vapi_relay_jobs_processed_total', { queue: liveQueue.name, ...(outcome ? { outcome } : {}) });
  const partialsOf = (call: ReturnType<typeof realisticCall>) => call.events.filter((body) => body.message.transcriptType === 'partial');

  it("shows the call's first partial, sent 5 ms after its first status update, before the durable lane has bound the call", async () => {
    const call = realisticCall({ patientId: 'pat-first-words' });
    const patient = await app('pat-first-words');
    const status = post(call.events[0]!);
    await sleep(5);
    expect((await post(partialsOf(call)[0]!)).json()).toEqual({ received: true });
    expect((await status).statusCode).toBe(200);

    await waitFor(() => partials(patient).length === 1);
    expect(partials(patient)[0]).toMatchObject({ sessionId: call.callId, data: { transcript: partialsOf(call)[0]!.message.transcript } });
    // The status update took the durable lane meanwhile: the session is bound to the same patient.
    await waitFor(async () => (await handle.sql`select patient_id from vapi_sessions where id = ${call.callId}`)[0]?.patient_id === 'pat-first-words');
  });

  it("shows nothing of a call its caller's number alone identifies until the durable lane binds it, then its partials", async () => {
    // The clinic's patients, each with a phone number the durable lane can bind a call by.
    await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
    const [{ id: patientId, phoneNumber: phone }] = SEED_PATIENTS as [(typeof SEED_PATIENTS)[0]];
    const call = realisticCall({ customerNumber: phone });
    const [early, later] = partialsOf(call) as [VapiBody, VapiBody];
    const patient = await app(patientId);

    // No binding and no claim: the live lane does not look the number up, it drops the event.
    await post(early);
    await waitFor(async () => (await liveJobs('unbound')) === 1);
    // The durable lane binds the call by the caller's number; from then on its partials are shown.
    for (const status of call.events.slice(0, 2)) await post(status);
    await waitFor(() => patient.received.some((m) => m.type === 'session_status'));
    await post(later);
    await waitFor(() => partials(patient).length === 1);
    expect(partials(patient)[0]).toMatchObject({ data: { transcript: later.message.transcript } });
    expect(published.filter(({ event }) => event.data.transcript === early.message.transcript)).toEqual([]);
  });

  it('shows a partial to the patient the durable lane bound, never to another patient its call metadata names', async () => {
    const call = realisticCall({ patientId: 'pat-bound' });
    const [bound, claimed] = [await app('pat-bound'), await app('pat-claimed')];
    for (const status of call.events.slice(0, 2)) await post(status);
    await waitFor(() => bound.received.some((m) => m.type === 'session_status'));

    const [partial] = partialsOf(call) as [VapiBody];
    const claiming = { ...(partial.message.call as object), metadata: { patientId: 'pat-claimed' } };
    await post({ message: { ...partial.message, call: claiming } });
    await waitFor(async () => partials(bound).length === 1 && (await liveJobs('relayed')) === 1);
    expect(claimed.received).toEqual([]);
    expect(published.filter(({ channel }) => channel === patientChannel(config.queuePrefix, 'pat-claimed'))).toEqual([]);
  });

  it('reads the claim only from the sealed job: one written into its clear fields in Redis reaches nobody', async () => {
    const call = realisticCall();
    const attacker = await app('pat-attacker');
    const codec = new JobCodec(new FieldCipher(config.dataEncryptionKeys));
    const at = new Date().toISOString();
    const event = {
      type: 'transcript' as const,
      sessionId: call.callId,
      at,
      data: { role: 'user', transcript: 'my date of birth is', timestamp: at, final: false },
    };
    const sealed = codec.seal(liveQueue, { callId: call.callId, type: 'transcript', receivedAt: at }, { event, claimedPatientId: null });
    const queue = openQueue(liveQueue, redis, config.queuePrefix);
    await queue.add('transcript', { ...sealed, claimedPatientId: 'pat-attacker', patientId: 'pat-attacker' } as typeof sealed);
    await queue.close();

    await waitFor(async () => (await liveJobs()) === 1);
    expect(attacker.received).toEqual([]);
    expect(published).toEqual([]);
  });
});
