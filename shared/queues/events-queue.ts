import { z } from 'zod';
import { defineQueue } from './definition.ts';
import { keptJobs } from './lifetimes.ts';

/** Longest wait between two attempts to store an event. */
const EVENT_RETRY_CAP_MS = 10 * 60 * 1000;

/**
 * When to try storing an event again: 1 s doubling to a 10-minute cap, ±25 % jitter so a fleet of
 * workers coming back does not retry in step. With the catalog's attempts that is over 24 hours.
 */
export function eventRetryDelay(attemptsMade: number, random: () => number = Math.random): number {
  const base = Math.min(EVENT_RETRY_CAP_MS, 1_000 * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * `vapi-events`: every event that must be kept (final transcripts, status, tool calls, reports),
 * from the ingress to a worker that stores it. The payload is the raw webhook body.
 *
 * An event answered 200 is retried until it is stored, for more than a day even with the shortest
 * jitter (10 attempts reach the cap in 17 minutes, 200 more at about 10 minutes each: 25 to 42 h),
 * unless its failure is one no retry heals
 * (job-error.ts), which dead-letters it at once. Completed jobs are kept an hour (at most 10 000)
 * for operators; failed ones two weeks, as the dead-letter set operators replay from.
 */
export const eventsQueue = defineQueue<EventMeta, string>({
  name: 'vapi-events',
  description: 'Vapi events to store (durable lane)',
  meta: z.object({
    eventId: z.string().min(1),
    type: z.string().min(1),
    callId: z.string().min(1).nullable(),
    // `reconcile`: the missing end-of-call report of a silent call, built by the worker (reconciler.ts).
    source: z.enum(['vapi', 'story', 'reconcile']),
    receivedAt: z.iso.datetime(),
    requestId: z.string(),
  }),
  options: {
    attempts: 210,
    backoff: { type: 'events' },
    ...keptJobs('events'),
  },
});

export interface EventMeta extends Record<string, unknown> {
  eventId: string;
  type: string;
  callId: string | null;
  source: 'vapi' | 'story' | 'reconcile';
  receivedAt: string;
  requestId: string;
}
