import { randomBytes } from 'node:crypto';
import { isNull } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { notificationOutbox, sessionEvents } from '#shared/db/schema';
import { JobCodec } from '#shared/queues/codec';
import { notificationJobId, notificationsQueue } from '#shared/queues/notifications-queue';
import { callBindingKey, patientChannel, type RelayEvent } from '#shared/relay';
import { openBinding, openForPatient, patientOfChannel } from '#shared/relay-messages';
import { createEventProcessor } from '../../services/worker/lib/event-processor.ts';
import { createOutboxDispatcher } from '../../services/worker/lib/outbox-dispatcher.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig, uniquePrefix } from '../helpers/config.ts';
import { openTestDatabase, truncateAll } from '../helpers/database.ts';
import { storeFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait-for.ts';

const handle = openTestDatabase();
const redis = openTestRedis();
const cipher = new FieldCipher(testConfig().dataEncryptionKeys);
// A worker that dies between commit and dispatch: the events are committed, nobody is told.
const storeAndDie = createEventProcessor({ db: handle.db, cipher, onCommit: () => {} });
const endpoints = ['https://clinic.example/hooks/a', 'https://records.example/hooks/b'];
let prefix: string;
let subscriber: Redis;
let received: RelayEvent[];

const dispatcher = (connection: Redis = redis, relaySettleMs = 0) =>
  createOutboxDispatcher({
    db: handle.db,
    redis: connection,
    cipher,
    codec: new JobCodec(cipher),
    notifications: openQueue(notificationsQueue, redis, prefix),
    endpoints,
    prefix,
    logger: silentLogger(),
    relaySettleMs,
  });

async function playCall(patientId: string) {
  const call = realisticCall({ patientId });
  for (const body of call.events) await storeAndDie(storeFor(body, cipher));
  return call;
}

const undispatched = async () => (await handle.db.select().from(sessionEvents).where(isNull(sessionEvents.dispatchedAt))).length;

beforeEach(async () => {
  await truncateAll(handle);
  prefix = uniquePrefix();
  received = [];
  subscriber = openTestRedis();
  subscriber.on('pmessage', (_pattern, channel: string, text: string) => received.push(openForPatient(cipher, patientOfChannel(prefix, channel)!, text)));
  await subscriber.psubscribe(patientChannel(prefix, '*'));
});
afterEach(async () => {
  subscriber.disconnect();
  await deleteKeys(redis, prefix);
});
afterAll(async () => {
  redis.disconnect();
  await handle.close();
});

describe('the outbox dispatcher', () => {
  it('delivers what a worker committed before it died, in seq order, once a sweep runs', async () => {
    const call = await playCall('pat-sweep');
    expect(await undispatched()).toBeGreaterThan(0);
    expect(received).toHaveLength(0);

    expect(await dispatcher().dispatchOnce()).toBeGreaterThan(0);
    await waitFor(() => received.some((event) => event.type === 'session_end'));
    expect(received.map((event) => event.seq)).toEqual(received.map((_, i) => i + 1));
    expect(received.every((event) => event.sessionId === call.callId)).toBe(true);
    expect(await undispatched()).toBe(0);
    // The live lane can now find the call's patient without Postgres.
    expect(openBinding(cipher, call.callId, await redis.get(callBindingKey(prefix, call.callId)))).toBe('pat-sweep');
  });

  it('publishes what a commit hands over from memory and marks it, refreshing the binding, with no sweep', async () => {
    const outbox = dispatcher(redis, 60_000);
    const storeAndHandOff = createEventProcessor({ db: handle.db, cipher, onCommit: (committed) => outbox.handOff(committed) });
    const call = realisticCall({ patientId: 'pat-direct' });
    for (const body of call.events) await storeAndHandOff(storeFor(body, cipher));
    await waitFor(async () => (await undispatched()) === 0);
    await outbox.stop();
    await waitFor(() => received.some((event) => event.type === 'session_end'));
    expect(received.map((event) => event.seq)).toEqual(received.map((_, i) => i + 1));
    expect(openBinding(cipher, call.callId, await redis.get(callBindingKey(prefix, call.callId)))).toBe('pat-direct');
  });

  it('leaves relay events younger than the settle time to the worker publishing them, and sweeps them once settled', async () => {
    await playCall('pat-settle');
    const left = await undispatched();
    await dispatcher(redis, 60_000).dispatchOnce();
    expect(await undispatched()).toBe(left);
    expect(received).toHaveLength(0);
    const sweeper = dispatcher(redis, 200);
    await waitFor(async () => (await sweeper.dispatchOnce(), (await undispatched()) === 0));
    await waitFor(() => received.length === left);
  });

  it('marks the rows of a session nobody is bound to without reading them, so they hold up no other', async () => {
    // Written under a key this dispatcher does not hold (a call still going: no notification): reading them would fail the whole pass.
    const foreign = createEventProcessor({ db: handle.db, cipher: new FieldCipher([randomBytes(32)]), onCommit: () => {} });
    for (const body of realisticCall().events.filter((body) => body.message.type !== 'end-of-call-report')) await foreign(storeFor(body, cipher));
    const call = await playCall('pat-behind');
    await dispatcher().dispatchOnce();
    expect(await undispatched()).toBe(0);
    await waitFor(() => received.some((event) => event.type === 'session_end'));
    expect(received.every((event) => event.sessionId === call.callId)).toBe(true);
  });

  it('sweeps on its own timer after a start, with no kick', async () => {
    const running = dispatcher();
    // Its own first kick finds the outbox empty; the call's events are committed one by one after it,
    // so only sweeps of the timer can find the later ones.
    running.start(50);
    await playCall('pat-timer');
    await waitFor(async () => (await undispatched()) === 0);
    await running.stop();
    expect(received.length).toBeGreaterThan(0);
  });

  it('lets two dispatchers work at once: every row goes out, none is lost', async () => {
    const calls = [];
    for (let i = 0; i < 60; i++) calls.push(await playCall(`pat-${i % 4}`));
    const rows = await handle.db.select().from(sessionEvents);
    expect(rows.length).toBeGreaterThan(500);

    const drain = async (d: ReturnType<typeof dispatcher>) => {
      while ((await d.dispatchOnce()) > 0);
    };
    await Promise.all([drain(dispatcher()), drain(dispatcher())]);
    expect(await undispatched()).toBe(0);
    await waitFor(() => new Set(received.map((event) => `${event.sessionId}:${event.seq}`)).size === rows.length);
    for (const call of calls) {
      const seqs = received.filter((event) => event.sessionId === call.callId).map((event) => event.seq!);
      expect(new Set(seqs).size).toBe(Math.max(...seqs));
    }
  });

  it('keeps rows it could not publish for the next pass', async () => {
    await playCall('pat-outage');
    const gone = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    gone.on('error', () => {});
    await expect(dispatcher(gone).dispatchOnce()).rejects.toThrow();
    const left = await undispatched();
    expect(left).toBeGreaterThan(0);
    expect(received).toHaveLength(0);

    await dispatcher().dispatchOnce();
    expect(await undispatched()).toBe(0);
    await waitFor(() => received.length === left);
    gone.disconnect();
  });

  it('turns each notification intent into one delivery job per endpoint, with ids that survive a second dispatch', async () => {
    const call = await playCall('pat-notify');
    const [intent] = await handle.db.select().from(notificationOutbox);
    expect(intent).toMatchObject({ sessionId: call.callId, type: 'session.ended' });

    await dispatcher().dispatchOnce();
    // A dispatcher that crashed before marking the row sends it again: the job ids make that a no-op.
    await handle.db.update(notificationOutbox).set({ dispatchedAt: null });
    await dispatcher().dispatchOnce();

    const queue = openQueue(notificationsQueue, redis, prefix);
    const jobs = await queue.getJobs(['waiting', 'delayed', 'active']);
    expect(jobs.map((job) => job.id).sort()).toEqual(endpoints.map((endpoint) => notificationJobId(intent!.id, endpoint)).sort());
    const body = new JobCodec(cipher).open(notificationsQueue, jobs[0]!.data).payload;
    expect(body).toMatchObject({ type: 'session.ended', sessionId: call.callId, patientId: 'pat-notify', data: { status: 'ended' } });
    expect(JSON.stringify(jobs[0]!.data)).not.toContain('Okafor');
    await queue.close();
  });
});
