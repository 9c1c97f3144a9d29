import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { withDeadline } from '#shared/deadline';
import type { EventJob } from '#shared/queues';

export type IntakeOutcome = 'queued' | 'duplicate';

/** Longest the ingress waits for Redis to take an event before answering 503. */
const ENQUEUE_DEADLINE_MS = 2_000;

/**
 * Makes events durable: `enqueue` resolves only once Redis holds the job, and rejects at once when
 * the connection is not up (BullMQ would otherwise wait for it indefinitely) or after a deadline,
 * so the webhook answers 503 in bounded time. The event id is the job id: a redelivery while the
 * job is retained is recognised as a duplicate and not added twice; after retention the worker's
 * event log still applies it once.
 */
export function createEventIntake(queue: Queue<EventJob>, redis: Redis) {
  async function add(job: EventJob): Promise<IntakeOutcome> {
    if ((await queue.getJobState(job.eventId)) !== 'unknown') return 'duplicate';
    await queue.add(job.type, job, { jobId: job.eventId });
    return 'queued';
  }
  return function enqueue(job: EventJob): Promise<IntakeOutcome> {
    if (redis.status !== 'ready') return Promise.reject(new Error(`Redis connection is ${redis.status}`));
    return withDeadline(add(job), ENQUEUE_DEADLINE_MS, 'enqueue');
  };
}

export type EnqueueEvent = ReturnType<typeof createEventIntake>;
