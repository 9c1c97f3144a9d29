import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { UnrecoverableError } from 'bullmq';
import { JobCodec } from '#shared/queues/codec';
import { eventRetryDelay, eventsQueue } from '#shared/queues/events-queue';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { toJobError } from '../../services/worker/lib/job-error.ts';
import { openTestDatabase } from '../helpers/database.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { TEST_DATABASE_URL } from '../helpers/environment.ts';
import { jobFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { tampered } from '../helpers/tamper.ts';
import { waitFor } from '../helpers/wait-for.ts';

const redis = openTestRedis();
let worker: FastifyInstance | undefined;
let config: Config;

afterEach(async () => {
  await worker?.close();
  await deleteKeys(redis, config.queuePrefix);
});

async function startWorker(overrides: Record<string, string> = {}) {
  config = testConfig(overrides);
  worker = await buildWorkerApp({ config, logger: silentLogger() });
  await worker.ready();
  return openQueue(eventsQueue, redis, config.queuePrefix);
}

const hang = { message: { type: 'hang', timestamp: 1795000000000, call: { id: 'call-dlq' } } };

describe('the events worker', () => {
  it('dead-letters a job it can never process after one attempt', async () => {
    const queue = await startWorker();
    const { sealed, ...meta } = jobFor(hang, new FieldCipher(config.dataEncryptionKeys));
    await queue.add(meta.type, new JobCodec(new FieldCipher(config.dataEncryptionKeys)).seal(eventsQueue, meta, 'not an event'), { jobId: meta.eventId });
    const failed = await waitFor(async () => (await queue.getFailed())[0]);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/cannot be read/);
    await queue.close();
  });

  it('dead-letters a job whose sealed payload was tampered with, after one attempt', async () => {
    const queue = await startWorker();
    const job = jobFor(hang, new FieldCipher(config.dataEncryptionKeys));
    await queue.add(job.type, { ...job, sealed: tampered(job.sealed) }, { jobId: job.eventId });
    const failed = await waitFor(async () => (await queue.getFailed())[0]);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/cannot be read: sealed payload does not match .*: the job was altered after it was sealed/);
    await queue.close();
  });

  it('retries, rather than dead-letters, a job sealed under a key this worker does not have yet', async () => {
    const queue = await startWorker();
    const job = jobFor(hang, new FieldCipher([randomBytes(32)]));
    await queue.add(job.type, job, { jobId: job.eventId });
    const retried = await waitFor(async () => {
      const found = await queue.getJob(job.eventId);
      return found && found.attemptsMade >= 1 && (await found.getState()) === 'delayed' && found;
    });
    expect(retried.failedReason).toMatch(/UnknownKeyError/);
    await queue.close();
  });

  it('dead-letters a job that does not hold an event job', async () => {
    const queue = await startWorker();
    await queue.add('hang', { eventId: 'x' } as never, { jobId: 'not-an-event' });
    const failed = await waitFor(async () => (await queue.getFailed())[0]);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/does not hold a vapi-events job/);
    await queue.close();
  });

  it('retries with backoff when the database fails, keeping the job', async () => {
    // A database without our tables: every store fails the way an outage mid-migration would.
    const broken = new URL(TEST_DATABASE_URL);
    broken.pathname = '/postgres';
    const queue = await startWorker({ DATABASE_URL: broken.toString() });
    const job = jobFor(hang, new FieldCipher(config.dataEncryptionKeys));
    await queue.add(job.type, job, { jobId: job.eventId });
    const retried = await waitFor(async () => {
      const found = await queue.getJob(job.eventId);
      return found && found.attemptsMade >= 1 && (await found.getState()) === 'delayed' && found;
    });
    expect(retried.opts.attempts).toBeGreaterThan(1);
    // The reason kept in Redis names the failure, never a value from the event.
    expect(retried.failedReason).toMatch(/^Database error 42P01/);
    await queue.close();
  });
});

describe('retries that outlast an outage', () => {
  it('keeps trying an event for more than a day, even with the shortest jitter', () => {
    const attempts = eventsQueue.options.attempts!;
    const shortest = Array.from({ length: attempts - 1 }, (_, i) => eventRetryDelay(i + 1, () => 0)).reduce((a, b) => a + b, 0);
    expect(shortest).toBeGreaterThan(24 * 3600 * 1000);
    expect(eventRetryDelay(50, () => 1)).toBeLessThanOrEqual(15 * 60 * 1000);
  });

  it('dead-letters at once what the event itself makes impossible to store, and retries the rest', async () => {
    const handle = openTestDatabase();
    const overflow = await handle.sql`select ${'1e20'}::numeric(12,4)`.catch((error: unknown) => error);
    const missing = await handle.sql`select * from no_such_table_yet`.catch((error: unknown) => error);
    await handle.close();
    expect(toJobError(overflow)).toBeInstanceOf(UnrecoverableError);
    expect(toJobError(overflow).message).toMatch(/^Database error 22003/);
    expect(toJobError(missing)).not.toBeInstanceOf(UnrecoverableError);
  });
});
