import { eventsQueue } from './events-queue.ts';
import { liveQueue } from './live-queue.ts';
import { notificationsQueue } from './notifications-queue.ts';
import { toolsQueue } from './tools-queue.ts';

/**
 * Every queue of the product, declared once. Producers, workers, the dashboard and the dead-letter
 * tooling all read this catalog; keys live under the configured `{hash-tag}` prefix, so each queue
 * stays on one Redis Cluster slot.
 */
export const QUEUES = { events: eventsQueue, live: liveQueue, tools: toolsQueue, notifications: notificationsQueue } as const;

export type QueueKey = keyof typeof QUEUES;
export const QUEUE_KEYS = Object.keys(QUEUES) as QueueKey[];

export { eventsQueue, liveQueue, notificationsQueue, toolsQueue };

/** The call, chat or session a job belongs to, from its clear fields: `callId` on events and live jobs, `sessionId` on tools and notifications. */
export function jobSessionId(data: Record<string, unknown>): string | null {
  const id = data.callId ?? data.sessionId;
  return typeof id === 'string' ? id : null;
}
