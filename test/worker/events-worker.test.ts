import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { UnrecoverableError } from 'bullmq';
import { JobCodec } from '#shared/queues/codec';
import { eventRetryDelay, eventsQueue } from '#shared/queues/events-queue';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { toJobError } from '../../services/worker/lib/job-error.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { TEST_DATABASE_URL } from '../helpers/environment.ts';
import { jobFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { refuseMessagesOf } from '../helpers/refusal.ts';
import { integrationResources } from '../helpers/resources.ts';
import { tampered } from '../helpers/tamper.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';

const { handle, redis, track, reset, close } = integrationResources();
let config: Config;

afterEach(() => reset(config.queuePrefix));
afterAll(close);

async function startWorker(overrides: Record<string, string> = {}) {
  config = testConfig(overrides);
  const [worker] = track(await buildWorkerApp({ config, logger: silentLogger() }));
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
    const overflow = await handle.sql`select ${'1e20'}::numeric(12,4)`.catch((error: unknown) => error);
    const missing = await handle.sql`select * from no_such_table_yet`.catch((error: unknown) => error);
    expect(toJobError(overflow)).toBeInstanceOf(UnrecoverableError);
    expect(toJobError(overflow).message).toMatch(/^Database error 22003/);
    expect(toJobError(missing)).not.toBeInstanceOf(UnrecoverableError);
  });
});

/** A realistic call's durable events (what the ingress queues on `vapi-events`), as jobs. */
const durableJobs = (call: ReturnType<typeof realisticCall>, cipher: FieldCipher) =>
  call.events.filter((body) => body.message.type !== 'speech-update' && body.message.transcriptType !== 'partial').map((body) => jobFor(body, cipher));

/** Interleaves the calls' events the way concurrent calls arrive: every call's first event, then every second one, … */
const interleaved = <T>(lists: T[][]) =>
  Array.from({ length: Math.max(...lists.map((list) => list.length)) }, (_, i) => lists.flatMap((list) => list.slice(i, i + 1))).flat();

describe('group commit in the events worker', () => {
  it('dead-letters the one event Postgres refuses, after one attempt, while the events beside it complete on their first', async () => {
    const queue = await startWorker();
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    const calls = [realisticCall(), realisticCall()];
    const jobs = interleaved(calls.map((call) => durableJobs(call, cipher)));
    const bad = jobs.find((job) => job.type === 'transcript')!;
    const lift = await refuseMessagesOf(handle, bad.eventId);
    try {
      await queue.addBulk(jobs.map((job) => ({ name: job.type, data: job, opts: { jobId: job.eventId } })));
      await waitFor(async () => {
        const counts = await queue.getJobCounts('completed', 'failed');
        return counts.completed! + counts.failed! === jobs.length;
      }, 15_000);
      const [failed, ...others] = await queue.getFailed();
      expect(others).toEqual([]);
      expect(failed).toMatchObject({ id: bad.eventId, attemptsStarted: 1 });
      expect(failed!.failedReason).toBe('Database error 23514 on vapi_messages test_refuses_one_event: the event itself cannot be stored');
      const completed = await queue.getCompleted(0, -1);
      expect(completed).toHaveLength(jobs.length - 1);
      expect(completed.every((job) => job.attemptsStarted === 1)).toBe(true);
      const rows = await handle.sql<{ session_id: string; n: number; last: number }[]>`
        select session_id, count(*)::int as n, max(seq) as last from session_events group by session_id`;
      for (const row of rows) expect(row.n).toBe(row.last);
    } finally {
      await lift();
      await queue.close();
    }
  });

  it('lets two workers take batches over the same calls at once: no deadlock, nothing retried, lost or stored twice, seq 1..n', async () => {
    config = testConfig();
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    const workers = [await buildWorkerApp({ config, logger: silentLogger() }), await buildWorkerApp({ config, logger: silentLogger() })];
    const queue = openQueue(eventsQueue, redis, config.queuePrefix);
    const sample = async (app: FastifyInstance, name: string, suffix = '') =>
      (await app.metrics.getSingleMetric(name)!.get()).values.find((value) => ((value as { metricName?: string }).metricName ?? name) === `${name}${suffix}`)
        ?.value ?? 0;
    try {
      await Promise.all(workers.map((app) => app.ready()));
      let total = 0;
      for (let iteration = 0; iteration < 12; iteration++) {
        const calls = Array.from({ length: 10 }, () => realisticCall());
        const jobs = interleaved(calls.map((call) => durableJobs(call, cipher)));
        total += jobs.length;
        await queue.addBulk(jobs.map((job) => ({ name: job.type, data: job, opts: { jobId: job.eventId } })));
        await waitFor(async () => (await queue.getJobCounts('completed')).completed === total || (await queue.getJobCounts('failed')).failed! > 0, 15_000);
        expect(await queue.getJobCounts('failed', 'delayed', 'waiting', 'active')).toEqual({ failed: 0, delayed: 0, waiting: 0, active: 0 });

        const ids = calls.map((call) => call.callId);
        const perCall = await handle.sql<
          { id: string; status: string; last_seq: number; relayed: number; top: number; ends: number; messages: number; logged: number }[]
        >`
          select s.id, s.status, s.last_seq,
            (select count(*)::int from session_events e where e.session_id = s.id) as relayed,
            (select coalesce(max(seq), 0) from session_events e where e.session_id = s.id) as top,
            (select count(*)::int from session_events e where e.session_id = s.id and e.type = 'session_end') as ends,
            (select count(*)::int from vapi_messages m where m.session_id = s.id) as messages,
            (select count(*)::int from vapi_events v where v.session_id = s.id) as logged
          from vapi_sessions s where s.id = any(${ids})`;
        expect(perCall).toHaveLength(calls.length);
        for (const row of perCall) {
          expect({ ...row, relayed: row.relayed === row.last_seq && row.top === row.last_seq }).toMatchObject({
            status: 'completed',
            relayed: true,
            ends: 1,
            messages: 4,
            logged: jobs.length / calls.length,
          });
        }
      }
      const completed = await queue.getCompleted(0, -1);
      expect(completed).toHaveLength(total);
      // A deadlock (40P01) or a lock wait past its timeout would have failed a batch and split it; a retry would show here.
      expect(completed.filter((job) => job.attemptsStarted !== 1)).toEqual([]);
      for (const app of workers) expect(await sample(app, 'vapi_relay_event_batch_splits_total')).toBe(0);
      // Both took batches, and batches of several events.
      const stored = await Promise.all(
        workers.map(async (app) => [await sample(app, 'vapi_relay_event_batch_size', '_count'), await sample(app, 'vapi_relay_event_batch_size', '_sum')]),
      );
      for (const [batches, events] of stored) expect(events! / batches!).toBeGreaterThan(1);
    } finally {
      await queue.close();
      for (const app of workers) await app.close();
    }
  }, 240_000);
});
