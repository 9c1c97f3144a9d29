import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { withDeadline } from '#shared/deadline';
import type { JobData } from '#shared/queues/definition';
import type { EventMeta } from '#shared/queues/events-queue';
import type { LiveMeta } from '#shared/queues/live-queue';

type EventJob = JobData<EventMeta>;

export type IntakeOutcome = 'queued' | 'duplicate' | 'requeued';

/** Longest the ingress waits for Redis to take an event before answering 503. */
export const ENQUEUE_DEADLINE_MS = 2_000;

/** How long a delivered event is remembered as seen: longer than Vapi's longest retry schedule (~3 h). */
const DEDUP_WINDOW_S = 6 * 3600;

/**
 * Makes events durable: `enqueue` resolves only once Redis holds the job, and rejects at once when
 * the connection is not up (BullMQ would otherwise wait for it indefinitely) or after a deadline,
 * so the webhook answers 503 in bounded time.
 *
 * The job is added first (its id is the event id, so BullMQ keeps one job per event), then a small
 * "seen" marker is set if absent: an event whose marker already existed is a redelivery. In that
 * order a failure never leaves an event marked but not queued; the worker's event log applies an
 * event once whatever happens here. A redelivery of an event whose job sits in the dead-letter set
 * puts that job back with a fresh attempt budget: Vapi sending it again is a second chance.
 */
export function createEventIntake(queue: Queue<EventJob>, redis: Redis) {
  // Beside the queue's own keys, under its prefix and hash tag.
  const seenKey = (eventId: string) => queue.toKey(`seen:${eventId}`);

  async function add(job: EventJob): Promise<IntakeOutcome> {
    const queued = await queue.add(job.type, job, { jobId: job.eventId });
    const first = await redis.set(seenKey(job.eventId), '1', 'EX', DEDUP_WINDOW_S, 'NX');
    if (first === 'OK') return 'queued';
    if ((await queued.getState()) !== 'failed') return 'duplicate';
    await queued.retry('failed', { resetAttemptsMade: true });
    return 'requeued';
  }

  return function enqueue(job: EventJob): Promise<IntakeOutcome> {
    if (redis.status !== 'ready') return Promise.reject(new Error(`Redis connection is ${redis.status}`));
    return withDeadline(add(job), ENQUEUE_DEADLINE_MS, 'enqueue');
  };
}

export type EnqueueEvent = ReturnType<typeof createEventIntake>;

/**
 * Hands a live-only event to the live lane: no dedup (a repeated partial is harmless and a late one
 * worthless), and the same bounded wait, so Redis trouble is a 503 rather than a hang.
 */
export function createLiveIntake(queue: Queue<JobData<LiveMeta>>, redis: Redis) {
  return async function enqueueLive(name: string, data: JobData<LiveMeta>): Promise<void> {
    if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
    await withDeadline(queue.add(name, data), ENQUEUE_DEADLINE_MS, 'enqueue live');
  };
}

export type EnqueueLive = ReturnType<typeof createLiveIntake>;
