import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineQueue } from './definition.ts';
import { keptJobs } from './lifetimes.ts';

/** Where a notification goes: a Standard Webhooks endpoint, or the clinic's FHIR server. */
export const NOTIFICATION_CHANNELS = ['webhook', 'fhir'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

/** The body POSTed to a notification endpoint (the receivers' contract: docs/notifications.md). */
export interface NotificationBody {
  type: string;
  sessionId: string;
  patientId: string | null;
  timestamp: string;
  data: Record<string, unknown>;
}

/** A notification job's clear fields. */
const notificationMeta = z.object({
  /** `notification_outbox.id`: the Standard Webhooks `webhook-id` is derived from it, stable across retries. */
  notificationId: z.number().int(),
  type: z.string().min(1),
  sessionId: z.string().min(1),
  endpoint: z.url(),
  /** `fhir`: a completed call as a transaction Bundle to FHIR_BASE_URL (docs/fhir.md); absent: a signed webhook. */
  channel: z.enum(NOTIFICATION_CHANNELS).optional(),
});

export type NotificationMeta = z.infer<typeof notificationMeta>;

/**
 * `vapi-notifications`: one job per notification and endpoint, fed by the outbox dispatcher.
 * Attempts spread over about a day (the worker's backoff strategy: capped exponential with full
 * jitter, honouring Retry-After); exhausted jobs stay two weeks as dead letters to replay.
 */
export const notificationsQueue = defineQueue<NotificationMeta, NotificationBody>({
  name: 'vapi-notifications',
  description: "Signed outbound webhooks (session ended, terminal errors) and completed calls to the clinic's FHIR server",
  meta: notificationMeta,
  options: {
    // About nine hours of expected waiting before the last attempt at the default 5 s base (see retry-policy.ts).
    attempts: 15,
    backoff: { type: 'notification' },
    ...keptJobs('notifications'),
  },
});

/** The delivery job id of one notification to one endpoint: the same whoever dispatches it, however often. */
export const notificationJobId = (notificationId: number, endpoint: string, channel: NotificationChannel = 'webhook') =>
  `${channel === 'fhir' ? 'f' : 'n'}${notificationId}-${createHash('sha256').update(endpoint).digest('hex').slice(0, 16)}`;
