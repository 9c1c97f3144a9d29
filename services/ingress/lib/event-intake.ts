import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '#shared/redis';
import { withDeadline } from '#shared/deadline';
import type { JobData } from '#shared/queues/definition';
import type { EventMeta } from '#shared/queues/events-queue';
import { DEDUP_WINDOW_S } from '#shared/queues/lifetimes';
import type { LiveMeta } from '#shared/queues/live-queue';
import type { Spool } from './spool.ts';

export type EventJob = JobData<EventMeta>;

export type IntakeOutcome = 'queued' | 'duplicate' | 'requeued' | 'spooled';

/** Longest the ingress waits for Redis to take an event before spooling it (or, for a live event, answering 503). */
const ENQUEUE_DEADLINE_MS = 1_000;

/**
 * Makes events durable: `enqueue` resolves once Redis holds the job or, when Redis does not take it
 * in time, once the spool has it on disk (docs/reliability.md); it rejects only when neither could.
 *
 * Each delivery adds the job (its id is the event id, so BullMQ keeps one job per event) and sets a
 * small "seen" marker if absent: an event whose marker already existed is a redelivery. Both are
 * sent at once and both answers are read, one round trip instead of two, so Redis may run them in
 * either order. That is as safe as adding first: the marker never decides whether the job is
 * added (every delivery adds it), and nothing is answered 2xx before the add's own answer came
 * back; a delivery whose add failed after its marker was set is spooled (or answered 503), and
 * the drain or Vapi's next delivery adds the job then, answered as a duplicate, which is still a
 * 2xx and the event still queued once. The marker only names the outcome and says when to look
 * for a dead letter; the worker's event log applies an event once whatever happens here. A
 * redelivery of an event whose job sits in the dead-letter set puts that job back with a fresh
 * attempt budget: Vapi sending it again is a second chance.
 *
 * While anything is spooled, new events are spooled behind it, so events reach the queue in the
 * order they came; `drainSpool` moves them into the queue through the same `add`, so a spooled
 * event queued twice (a crash mid-drain, a late answer from Redis) is a duplicate, not two events.
 */
export function createEventIntake(queue: Queue<EventJob>, redis: RedisClient, spool: Spool<EventJob>, log: FastifyBaseLogger) {
  // Beside the queue's own keys, under its prefix and hash tag.
  const seenKey = (eventId: string) => queue.toKey(`seen:${eventId}`);

  async function add(job: EventJob): Promise<IntakeOutcome> {
    const [queued, first] = await Promise.all([
      queue.add(job.type, job, { jobId: job.eventId }),
      redis.set(seenKey(job.eventId), '1', 'EX', DEDUP_WINDOW_S, 'NX'),
    ]);
    if (first === 'OK') return 'queued';
    if ((await queued.getState()) !== 'failed') return 'duplicate';
    await queued.retry('failed', { resetAttemptsMade: true });
    return 'requeued';
  }

  /** `add`, rejecting at once when the connection is not up (BullMQ would wait for it) or after the deadline. */
  function addInTime(job: EventJob): Promise<IntakeOutcome> {
    if (redis.status !== 'ready') return Promise.reject(new Error(`Redis connection is ${redis.status}`));
    return withDeadline(add(job), ENQUEUE_DEADLINE_MS, 'enqueue');
  }

  async function enqueue(job: EventJob): Promise<IntakeOutcome> {
    if (spool.pending === 0) {
      try {
        return await addInTime(job);
      } catch (error) {
        log.warn({ err: error, eventId: job.eventId }, 'Redis did not take the event in time: spooling it');
      }
    }
    await spool.append(job);
    return 'spooled';
  }

  /** Moves what is spooled into the queue, oldest first; rejects (to be tried again) while Redis does not take it. */
  function drainSpool(): Promise<number> {
    return spool.drain(addInTime, (where, error) => log.error({ ...where, err: error }, 'a spooled event cannot be read back: skipped'));
  }

  return { enqueue, drainSpool };
}

export type EventIntake = ReturnType<typeof createEventIntake>;

/**
 * Hands a live-only event to the live lane: no dedup (a repeated partial is harmless and a late one
 * worthless), and the same bounded wait, so Redis trouble is a 503 rather than a hang.
 */
export function createLiveIntake(queue: Queue<JobData<LiveMeta>>, redis: RedisClient) {
  return async function enqueueLive(name: string, data: JobData<LiveMeta>): Promise<void> {
    if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
    await withDeadline(queue.add(name, data), ENQUEUE_DEADLINE_MS, 'enqueue live');
  };
}

export type EnqueueLive = ReturnType<typeof createLiveIntake>;
