import { Queue } from 'bullmq';
import postgres from 'postgres';
import { expect } from 'vitest';
import { QUEUES } from '#shared/queues/catalog';
import type { RedisClient } from '#shared/redis';
import { waitFor } from '../helpers/wait-for.ts';
import type { Stack } from './stack.ts';
import type { CallStream } from './traffic.ts';

/**
 * Waits for the system to settle after `stream` stopped, then checks what the fault suite promises:
 * every event answered 2xx is stored exactly once, every call is completed with its messages, no
 * session's relay `seq` has a hole, both outboxes are dispatched, each ended session was notified
 * under one webhook-id, and no event or notification is dead-lettered. Returns the figures.
 */
export async function expectNothingLost(
  stack: Stack,
  stream: CallStream,
  { databaseUrl, redis, workerKills }: { databaseUrl: string; redis: RedisClient; workerKills: number },
) {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const sessionIds = stream.played.map((call) => call.callId);
  try {
    // Events that failed while Postgres refused writes come back on their retry schedule (minutes later).
    const stored = await waitFor(async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from vapi_events where id = any(${[...stream.durable]})`;
      stack.mark('events stored', { stored: row!.n, answered: stream.durable.size });
      return row!.n === stream.durable.size && row!.n;
    }, 420_000);
    const sessions = await waitFor(async () => {
      const rows = await sql<{ status: string; n: number }[]>`
        select status, count(*)::int as n from vapi_sessions where id = any(${sessionIds}) group by status`;
      return rows.length === 1 && rows[0]!.status === 'completed' && rows[0]!.n === sessionIds.length && rows;
    }, 60_000);
    const messages = await sql<{ session_id: string; n: number }[]>`
      select session_id, count(*)::int as n from vapi_messages where session_id = any(${sessionIds}) group by session_id`;
    const holes = await sql`
      select e.session_id from session_events e join vapi_sessions s on s.id = e.session_id
      where e.session_id = any(${sessionIds})
      group by e.session_id, s.last_seq having min(e.seq) <> 1 or count(*) <> max(e.seq) or max(e.seq) <> s.last_seq`;
    await waitFor(async () => {
      const [row] = await sql<{ n: number }[]>`
        select (select count(*) from session_events where dispatched_at is null)
             + (select count(*) from notification_outbox where dispatched_at is null) as n`;
      return Number(row!.n) === 0;
    }, 60_000);
    const notified = await waitFor(() => {
      const ended = new Map<string, Set<string>>();
      for (const delivery of stack.deliveries.filter((d) => d.type === 'session.ended')) {
        ended.set(delivery.sessionId, (ended.get(delivery.sessionId) ?? new Set()).add(delivery.webhookId));
      }
      return sessionIds.every((id) => ended.has(id)) && ended;
    }, 120_000);

    // Tool jobs that failed while Postgres was down stay in their failed set by design (one attempt:
    // the caller had its error answer); what must never be there is an event or a notification.
    const redelivered = stack.deliveries.length - new Set(stack.deliveries.map((d) => d.webhookId)).size;
    const deadLetters: Record<string, number> = {};
    for (const definition of [QUEUES.events, QUEUES.notifications, QUEUES.tools]) {
      const queue = new Queue(definition.name, { connection: redis, prefix: '{vapi}' });
      deadLetters[definition.name] = await queue.getFailedCount();
      await queue.close();
    }

    expect(stream.failures).toEqual([]);
    expect(sessions).toEqual([{ status: 'completed', n: sessionIds.length }]);
    expect(messages.filter((row) => row.n !== 4)).toEqual([]);
    expect(messages).toHaveLength(sessionIds.length);
    expect(holes).toEqual([]);
    // One notification per ended session, under one webhook-id; the same one again only if a worker
    // was killed between the receiver's answer and the job's completion.
    expect([...notified.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    expect(notified.size).toBe(sessionIds.length);
    expect(redelivered).toBeLessThanOrEqual(workerKills * 8); // 8: the worker's notification concurrency
    expect({ events: deadLetters[QUEUES.events.name], notifications: deadLetters[QUEUES.notifications.name] }).toEqual({ events: 0, notifications: 0 });
    return {
      counts: stream.counts,
      calls: sessionIds.length,
      eventsStored: stored,
      toolJobsFailed: deadLetters[QUEUES.tools.name],
      notifications: stack.deliveries.length,
      redeliveredNotifications: redelivered,
    };
  } finally {
    await sql.end({ timeout: 1 });
  }
}
