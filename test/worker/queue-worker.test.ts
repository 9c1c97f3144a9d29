import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QueueEvents, type Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { notificationAttempts, vapiEvents, vapiSessions } from '#shared/db/schema';
import type { JobData } from '#shared/queues/definition';
import { eventsQueue } from '#shared/queues/events-queue';
import { liveQueue } from '#shared/queues/live-queue';
import { notificationsQueue, type NotificationMeta } from '#shared/queues/notifications-queue';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { jobFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, track, reset, close } = integrationResources();
const ALTERED = /sealed payload does not match its clear fields or queue: the job was altered after it was sealed/;

let config: Config;
let cipher: FieldCipher;
let original: Receiver;
let attacker: Receiver;

/** A worker whose only notification endpoint is `original`; `attacker` is a second server nobody configured. */
async function startWorker(options: { legacySealsUntil?: number } = {}) {
  [original, attacker] = await Promise.all([startReceiver(), startReceiver()]);
  config = testConfig({ NOTIFY_WEBHOOK_URL: original.url, NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`, NOTIFY_RETRY_BASE_MS: '50' });
  cipher = new FieldCipher(config.dataEncryptionKeys);
  const [worker] = track(await buildWorkerApp({ config, logger: silentLogger(), ...options }));
  await worker.ready();
  return worker;
}

/** Changes fields of a job's data in its Redis hash, as someone with access to Redis but not to the key would. */
async function rewriteInRedis(queue: Queue, jobId: string, change: Record<string, unknown>) {
  const jobKey = queue.toKey(jobId);
  const data = JSON.parse((await redis.hget(jobKey, 'data'))!) as Record<string, unknown>;
  await redis.hset(jobKey, 'data', JSON.stringify({ ...data, ...change }));
}

/** Ends a story call the real way (event stored, outbox dispatched) while the notification queue is paused: its job waits in Redis. */
async function notificationWaiting(worker: FastifyInstance) {
  const notifications = openQueue(notificationsQueue, redis, config.queuePrefix);
  await notifications.pause();
  const sessionId = randomUUID();
  const job = jobFor({ type: 'call-end', data: { sessionId, summary: 'Booked a visit.', endedReason: 'customer-ended-call' } }, cipher);
  await openQueue(eventsQueue, redis, config.queuePrefix).add(job.type, job, { jobId: job.eventId });
  worker.outbox.kick();
  const [waiting] = await waitFor(async () => {
    const jobs = await notifications.getWaiting();
    return jobs.length > 0 && jobs;
  });
  return { notifications, job: waiting! };
}

/** The job once it is in the failed set, read after it got there. */
async function deadLetter(queue: Queue, jobId: string) {
  await waitFor(async () => (await queue.getJobState(jobId)) === 'failed', 10_000);
  return (await queue.getJob(jobId))!;
}

afterEach(async () => {
  await Promise.all([original?.close(), attacker?.close()]);
  await reset(config.queuePrefix);
});
afterAll(() => close());

describe('a notification job changed in Redis', () => {
  it('re-pointed at another endpoint: delivered nowhere, dead-lettered at once as tampered', async () => {
    const worker = await startWorker();
    const { notifications, job } = await notificationWaiting(worker);
    await rewriteInRedis(notifications, job.id!, { endpoint: attacker.url });
    await notifications.resume();

    const failed = await deadLetter(notifications, job.id!);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(ALTERED);
    expect(original.received).toEqual([]);
    expect(attacker.received).toEqual([]);
    expect(await handle.db.select().from(notificationAttempts)).toEqual([]);
    expect((await worker.inject({ url: '/metrics' })).body).toMatch(
      /vapi_relay_tampered_seals_total\{queue="vapi-notifications",sealed="job",service="worker"\} 1/,
    );
  });

  it('given another notification id (another webhook-id, another row marked delivered): the same', async () => {
    const worker = await startWorker();
    const { notifications, job } = await notificationWaiting(worker);
    await rewriteInRedis(notifications, job.id!, { notificationId: (job.data as NotificationMeta).notificationId + 1 });
    await notifications.resume();

    expect((await deadLetter(notifications, job.id!)).failedReason).toMatch(ALTERED);
    expect(original.received).toEqual([]);
    expect(await handle.db.select().from(notificationAttempts)).toEqual([]);
  });

  it('untouched, it is delivered: the seal binds, it does not get in the way', async () => {
    const worker = await startWorker();
    const { notifications } = await notificationWaiting(worker);
    await notifications.resume();
    await waitFor(() => original.received.length === 1);
    expect(attacker.received).toEqual([]);
  });
});

describe('an event job changed in Redis', () => {
  for (const [field, value] of [
    ['type', 'end-of-call-report'],
    ['callId', 'call-of-another-patient'],
  ] as const) {
    it(`with another ${field}: stored nowhere, dead-lettered at once as tampered`, async () => {
      await startWorker();
      const events = openQueue(eventsQueue, redis, config.queuePrefix);
      await events.pause();
      const callId = randomUUID();
      const job = jobFor({ message: { type: 'status-update', status: 'in-progress', timestamp: Date.now(), call: { id: callId } } }, cipher);
      await events.add(job.type, job, { jobId: job.eventId });
      await rewriteInRedis(events, job.eventId, { [field]: value });
      await events.resume();

      const failed = await deadLetter(events, job.eventId);
      expect(failed.attemptsMade).toBe(1);
      expect(failed.failedReason).toMatch(ALTERED);
      expect(await handle.db.select().from(vapiEvents).where(eq(vapiEvents.id, job.eventId))).toEqual([]);
      expect(await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, callId))).toEqual([]);
    });
  }

  it('copied into a job of another queue (an event job run as a live one): refused as tampered', async () => {
    await startWorker();
    const live = openQueue(liveQueue, redis, config.queuePrefix);
    const failures = new QueueEvents(liveQueue.name, { connection: redis.duplicate(), prefix: config.queuePrefix });
    await failures.waitUntilReady();
    try {
      const failed = new Promise<{ jobId: string; failedReason: string }>((resolve) => failures.on('failed', resolve));
      const job = jobFor(
        { message: { type: 'transcript', role: 'user', transcriptType: 'final', transcript: 'hello', timestamp: Date.now(), call: { id: randomUUID() } } },
        cipher,
      );
      // The event job's fields include every field a live job has: it passes the live queue's schema, not its seal.
      const moved = await live.add('transcript', job as never);
      const failure = await failed;
      expect(failure.jobId).toBe(moved.id);
      expect(failure.failedReason).toMatch(ALTERED);
    } finally {
      await failures.close();
    }
  });
});

describe('jobs sealed by an earlier version (their clear fields not bound)', () => {
  /** A job as the version before binding sealed it. */
  const legacy = <M extends Record<string, unknown>>({ sealed: _bound, ...meta }: JobData<M>, payload: unknown) => ({
    ...meta,
    sealed: cipher.encryptJson(payload),
  });

  it('are still processed inside the window, counted, and a notification only to a configured endpoint', async () => {
    const worker = await startWorker();
    const events = openQueue(eventsQueue, redis, config.queuePrefix);
    const callId = randomUUID();
    const body = { message: { type: 'status-update', status: 'in-progress', timestamp: Date.now(), call: { id: callId } } };
    const job = jobFor(body, cipher);
    await events.add(job.type, legacy(job, JSON.stringify(body)) as typeof job, { jobId: job.eventId });
    await waitFor(async () => (await handle.db.select().from(vapiEvents).where(eq(vapiEvents.id, job.eventId))).length === 1);

    const notifications = openQueue(notificationsQueue, redis, config.queuePrefix);
    const toBody = (endpoint: string) => ({
      type: 'session.ended',
      sessionId: callId,
      patientId: null,
      timestamp: new Date().toISOString(),
      data: { endpoint },
    });
    const trusted = { notificationId: 900_001, type: 'session.ended', sessionId: callId, endpoint: original.url };
    await notifications.add('session.ended', { ...trusted, sealed: cipher.encryptJson(toBody(original.url)) }, { jobId: 'legacy-trusted' });
    const rePointed = { ...trusted, notificationId: 900_002, endpoint: attacker.url };
    await notifications.add('session.ended', { ...rePointed, sealed: cipher.encryptJson(toBody(attacker.url)) }, { jobId: 'legacy-re-pointed' });

    await waitFor(() => original.received.length === 1);
    expect((await deadLetter(notifications, 'legacy-re-pointed')).failedReason).toMatch(
      /sealed by an earlier version is refused: its endpoint is not one of NOTIFY_WEBHOOK_URL/,
    );
    expect(attacker.received).toEqual([]);
    const metrics = await (await worker.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/vapi_relay_legacy_seals_opened_total\{queue="vapi-events",sealed="job",service="worker"\} 1/);
    expect(metrics).toMatch(/vapi_relay_legacy_seals_opened_total\{queue="vapi-notifications",sealed="job",service="worker"\} 2/);
  });

  it("are still read from an earlier version's spool segment: drained into the queue and stored", async () => {
    await startWorker();
    const body = { message: { type: 'status-update', status: 'in-progress', timestamp: Date.now(), call: { id: randomUUID() } } };
    const job = jobFor(body, cipher);
    const ingressConfig = testConfig({ QUEUE_PREFIX: config.queuePrefix });
    await mkdir(ingressConfig.spool.dir, { recursive: true });
    await writeFile(join(ingressConfig.spool.dir, '000000000001.jsonl'), `${JSON.stringify({ at: Date.now(), job: legacy(job, JSON.stringify(body)) })}\n`);
    try {
      const [ingress] = track(await buildIngressApp({ config: ingressConfig, logger: silentLogger() }));
      await ingress.ready();
      await waitFor(async () => (await handle.db.select().from(vapiEvents).where(eq(vapiEvents.id, job.eventId))).length === 1);
    } finally {
      await rm(ingressConfig.spool.dir, { recursive: true, force: true });
    }
  });

  it('are refused after the window: dead-lettered with the reason, nothing stored', async () => {
    await startWorker({ legacySealsUntil: Date.now() - 1 });
    const events = openQueue(eventsQueue, redis, config.queuePrefix);
    const body = { message: { type: 'status-update', status: 'in-progress', timestamp: Date.now(), call: { id: randomUUID() } } };
    const job = jobFor(body, cipher);
    await events.add(job.type, legacy(job, JSON.stringify(body)) as typeof job, { jobId: job.eventId });

    const failed = await deadLetter(events, job.eventId);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/cannot be read: sealed job is not bound to its clear fields .* refused since/);
    expect(await handle.db.select().from(vapiEvents)).toEqual([]);
  });
});
