import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { asc, eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { notificationAttempts, notificationEndpoints } from '#shared/db/schema';
import { eventsQueue } from '#shared/queues/events-queue';
import { notificationsQueue } from '#shared/queues/notifications-queue';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { notificationBackoff, RetryableDeliveryError } from '../../services/worker/lib/notify/retry-policy.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { jobFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, track, reset, close } = integrationResources();
const secret = `whsec_${randomBytes(32).toString('base64')}`;

const receivers: Receiver[] = [];

/** A receiver closed after the test. */
async function receiver(answers: { status: number; headers?: Record<string, string> }[]) {
  const started = await startReceiver(answers);
  receivers.push(started);
  return started;
}

let config: Config;

/** A worker notifying `url`, fed the real way: a story call-end stored, its outbox dispatched. */
async function endACall(url: string) {
  config = testConfig({ NOTIFY_WEBHOOK_URL: url, NOTIFY_WEBHOOK_SECRET: secret, NOTIFY_RETRY_BASE_MS: '50' });
  const [worker] = track(await buildWorkerApp({ config, logger: silentLogger() }));
  await worker.ready();
  const sessionId = randomUUID();
  const job = jobFor(
    { type: 'call-end', data: { sessionId, summary: 'Booked a visit.', endedReason: 'customer-ended-call' } },
    new FieldCipher(config.dataEncryptionKeys),
  );
  await openQueue(eventsQueue, redis, config.queuePrefix).add(job.type, job, { jobId: job.eventId });
  return sessionId;
}

/** The first notification job in the failed set (the dead letters), once there is one. */
async function firstDeadLetter() {
  const queue = openQueue(notificationsQueue, redis, config.queuePrefix);
  const [failed] = await waitFor(async () => {
    const jobs = await queue.getFailed();
    return jobs.length > 0 && jobs;
  });
  return { queue, failed: failed! };
}

const attemptsOf = () => handle.db.select().from(notificationAttempts).orderBy(asc(notificationAttempts.id));

afterEach(async () => {
  await reset(config.queuePrefix);
  for (const started of receivers.splice(0)) await started.close();
});
afterAll(close);

describe('outbound notifications', () => {
  it('retries a failing receiver until it succeeds: delivered once, every attempt recorded, signed the same way', async () => {
    const { url, received } = await receiver([{ status: 500 }, { status: 503 }, { status: 502 }, { status: 204 }]);
    const sessionId = await endACall(url);
    await waitFor(async () => (await attemptsOf()).some((a) => a.outcome === 'delivered'), 15_000);

    expect(received).toHaveLength(4);
    expect((await attemptsOf()).map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'retry'],
      [2, 503, 'retry'],
      [3, 502, 'retry'],
      [4, 204, 'delivered'],
    ]);
    // Every attempt carries the same webhook-id and verifies with an independent Standard Webhooks implementation.
    expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const request of received) {
      const verified = new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
      expect(verified).toMatchObject({ type: 'session.ended', sessionId, patientId: null, data: { sessionId, status: 'ended' } });
      expect(verified).toHaveProperty('timestamp');
    }
  });

  it("waits as long as the receiver's Retry-After asks", async () => {
    const { url, received } = await receiver([{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }]);
    await endACall(url);
    await waitFor(async () => received.length === 2, 15_000);
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(1_900);
  });

  it('disables an endpoint that answers 410 and sends it nothing more', async () => {
    const { url, received } = await receiver([{ status: 410 }]);
    await endACall(url);
    const { queue, failed } = await firstDeadLetter();
    expect(failed.attemptsMade).toBe(1);
    expect(await handle.db.select().from(notificationEndpoints).where(eq(notificationEndpoints.url, url))).toMatchObject([{ disabledReason: '410 Gone' }]);

    // A replay while the endpoint is disabled sends nothing and stays a dead letter.
    await failed.retry('failed', { resetAttemptsMade: true });
    await waitFor(async () => (await queue.getFailed()).length === 1 && (await queue.getFailed())[0]!.failedReason.includes('disabled'));
    expect(received).toHaveLength(1);
    await queue.close();
  });

  it('dead-letters at once what the receiver refuses for good', async () => {
    const { url, received } = await receiver([{ status: 400 }]);
    await endACall(url);
    const { queue, failed } = await firstDeadLetter();
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/HTTP 400/);
    expect(received).toHaveLength(1);
    expect((await attemptsOf()).map((a) => a.outcome)).toEqual(['permanent']);
    await queue.close();
  });
});

describe('an endpoint nobody listens on', () => {
  it('records the network failure of each attempt and keeps retrying', async () => {
    // A port that was just free: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    await endACall(`http://127.0.0.1:${port}/hooks/calls`);
    const attempts = await waitFor(async () => {
      const rows = await attemptsOf();
      return rows.length >= 2 && rows;
    }, 15_000);
    expect(attempts[0]).toMatchObject({ statusCode: null, outcome: 'retry', error: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe('the notification backoff', () => {
  it('grows exponentially under a cap, with full jitter, and never undercuts Retry-After', () => {
    const highest = notificationBackoff(5_000, () => 1);
    expect([1, 2, 3, 4].map((attempt) => highest(attempt))).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(highest(30)).toBe(4 * 3600 * 1000);
    expect(notificationBackoff(5_000, () => 0)(3)).toBe(0);
    expect(notificationBackoff(5_000, () => 0)(3, 'notification', new RetryableDeliveryError('HTTP 429', 30_000))).toBe(30_000);
  });
});
