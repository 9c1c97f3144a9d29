import { z } from 'zod';
import { defineQueue } from './definition';

/**
 * `vapi-events`: every event that must be kept (final transcripts, status, tool calls, reports),
 * from the ingress to a worker that stores it. The payload is the raw webhook body.
 *
 * Retries outlast a database that is down for a while; completed jobs are kept an hour (at most
 * 10 000) for operators; failed ones two weeks, as the dead-letter set operators replay from.
 */
export const eventsQueue = defineQueue<EventMeta, string>({
  name: 'vapi-events',
  description: 'Vapi events to store (durable lane)',
  meta: z.object({
    eventId: z.string().min(1),
    type: z.string().min(1),
    callId: z.string().min(1).nullable(),
    source: z.enum(['vapi', 'story']),
    receivedAt: z.iso.datetime(),
    requestId: z.string(),
  }),
  options: {
    attempts: 6,
    backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  },
});

export interface EventMeta extends Record<string, unknown> {
  eventId: string;
  type: string;
  callId: string | null;
  source: 'vapi' | 'story';
  receivedAt: string;
  requestId: string;
}
