import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Queue names; keys are prefixed with the configured `{hash-tag}` so Redis Cluster keeps a queue on one slot. */
export const QUEUE_NAMES = {
  events: 'vapi-events',
} as const;

/**
 * A webhook event on its way from the ingress to a worker. Carries ids and the minimum needed to
 * route it; the event itself travels encrypted (`body`), so health data never sits in Redis in clear.
 */
export const eventJobSchema = z.object({
  eventId: z.string().min(1),
  type: z.string().min(1),
  callId: z.string().min(1).nullable(),
  source: z.enum(['vapi', 'story']),
  receivedAt: z.iso.datetime(),
  requestId: z.string(),
  body: z.string().min(1),
});

export type EventJob = z.infer<typeof eventJobSchema>;

/**
 * Events heal from database hiccups within seconds: a handful of attempts with exponential backoff.
 * Completed jobs are kept an hour (at most 10 000) for operators to look at: each holds a whole
 * event, and dedup does not need them (see event-intake). Failed ones are kept two weeks, as the
 * dead-letter set operators replay from.
 */
export const eventJobOptions: JobsOptions = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 14 * 24 * 3600 },
};

export function createEventsQueue(connection: ConnectionOptions, prefix: string): Queue<EventJob> {
  return new Queue<EventJob>(QUEUE_NAMES.events, { connection, prefix, defaultJobOptions: eventJobOptions });
}
