import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineQueue } from './definition.ts';

/** The body POSTed to a notification endpoint (CONTRACT.md, "Outbound notifications"). */
export interface NotificationBody {
  type: string;
  sessionId: string;
  patientId: string | null;
  timestamp: string;
  data: Record<string, unknown>;
}

/**
 * `vapi-notifications`: one job per notification and endpoint, fed by the outbox dispatcher.
 * Attempts spread over about a day (the worker's backoff strategy: capped exponential with full
 * jitter, honouring Retry-After); exhausted jobs stay two weeks as dead letters to replay.
 */
export const notificationsQueue = defineQueue<NotificationMeta, NotificationBody>({
  name: 'vapi-notifications',
  description: 'Signed outbound webhooks (session ended, terminal errors)',
  meta: z.object({
    /** `notification_outbox.id`: the Standard Webhooks `webhook-id` is derived from it, stable across retries. */
    notificationId: z.number().int(),
    type: z.string().min(1),
    sessionId: z.string().min(1),
    endpoint: z.url(),
  }),
  options: {
    // About nine hours of expected waiting before the last attempt at the default 5 s base (see retry-policy.ts).
    attempts: 15,
    backoff: { type: 'notification' },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  },
});

export interface NotificationMeta extends Record<string, unknown> {
  notificationId: number;
  type: string;
  sessionId: string;
  endpoint: string;
}

/** The delivery job id of one notification to one endpoint: the same whoever dispatches it, however often. */
export const notificationJobId = (notificationId: number, endpoint: string) =>
  `n${notificationId}-${createHash('sha256').update(endpoint).digest('hex').slice(0, 16)}`;
