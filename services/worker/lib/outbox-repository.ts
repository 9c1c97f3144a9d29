import { and, asc, eq, isNull, lt, sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database, Transaction } from '#shared/db/client';
import { notificationOutbox, sessionEvents, vapiSessions } from '#shared/db/schema';
import { anyOf, textArray } from '#shared/db/text-array';
import type { RelayEventType } from '#shared/relay';
import type { JsonObject } from '#shared/vapi/envelope';
import type { PendingRelayEvent } from './event-changes.ts';
import type { SessionNotification } from './session-state.ts';

/** A relay event as committed to the outbox: its row id and its session's `seq`. */
export interface NumberedRelayEvent {
  id: number;
  sessionId: string;
  seq: number;
  type: RelayEventType;
  at: Date;
  data: JsonObject;
}

/** Relay events of one session to append after its `last_seq` (read under the session's lock). */
export interface RelayAppend {
  session: { id: string; lastSeq: number };
  events: PendingRelayEvent[];
}

/**
 * Appends relay events with each session's next `seq` values and moves the sessions' `last_seq`
 * past them, in one statement: the only writer of `last_seq`. The caller holds the sessions'
 * locks, so the numbers are gap-free and nobody else's.
 */
export async function appendRelayEvents(tx: Transaction, cipher: FieldCipher, appends: RelayAppend[]): Promise<NumberedRelayEvent[]> {
  const numbered = appends.flatMap(({ session, events }) =>
    events.map((event, index) => ({ ...event, sessionId: session.id, seq: session.lastSeq + index + 1 })),
  );
  if (numbered.length === 0) return [];
  const advanced = appends.filter(({ events }) => events.length > 0);
  // The trace contexts go in only when some event has one: with tracing off the statement is as before.
  const traced = numbered.some((event) => event.trace);
  const rows = await tx.execute<{ id: number; session_id: string; seq: number }>(sql`
    with advanced as (
      update ${vapiSessions} as s set last_seq = v.last_seq::integer
      from unnest(${textArray(advanced.map(({ session }) => session.id))}, ${textArray(advanced.map(({ session, events }) => String(session.lastSeq + events.length)))}) as v(id, last_seq)
      where s.id = v.id
    )
    insert into ${sessionEvents} (session_id, seq, type, at, data${traced ? sql`, trace_context` : sql``})
    select e.session_id, e.seq::integer, e.type, e.at::timestamptz, e.data${traced ? sql`, nullif(e.trace_context, '')::jsonb` : sql``}
    from unnest(
      ${textArray(numbered.map((event) => event.sessionId))}, ${textArray(numbered.map((event) => String(event.seq)))},
      ${textArray(numbered.map((event) => event.type))}, ${textArray(numbered.map((event) => event.at.toISOString()))},
      ${textArray(numbered.map((event) => cipher.encryptJson(event.data)))}${
        traced ? sql`, ${textArray(numbered.map((event) => (event.trace ? JSON.stringify(event.trace) : '')))}` : sql``
      }
    ) as e(session_id, seq, type, at, data${traced ? sql`, trace_context` : sql``})
    returning id, session_id, seq`);
  const ids = new Map(rows.map((row) => [`${row.session_id}:${row.seq}`, Number(row.id)]));
  return numbered.map((event) => ({ ...event, id: ids.get(`${event.sessionId}:${event.seq}`)! }));
}

/** A notification intent (session ended, terminal error) of a session, for the dispatcher to deliver. */
export type NotificationIntent = SessionNotification & { sessionId: string };

/** Appends notification intents, their data encrypted, in one insert. */
export async function appendNotifications(tx: Transaction, cipher: FieldCipher, intents: NotificationIntent[]): Promise<void> {
  if (intents.length === 0) return;
  await tx.insert(notificationOutbox).values(
    intents.map((intent) => ({
      sessionId: intent.sessionId,
      patientId: intent.patientId,
      type: intent.type,
      occurredAt: intent.at,
      data: cipher.encryptJson(intent.data),
      traceContext: intent.trace ?? null,
    })),
  );
}

/** A relay event in the outbox, with the patient its session is bound to: what the patient's channel carries. */
export interface OutboxRelayEvent extends NumberedRelayEvent {
  patientId: string | null;
}

/** A relay event row as stored: its data still sealed. */
export type SealedRelayEvent = Omit<OutboxRelayEvent, 'data'> & { data: string };

/**
 * Claims up to `limit` undispatched relay events at least `settledMs` old (younger ones are still
 * being published by the worker that wrote them), oldest first, skipping rows another dispatcher holds.
 */
export async function claimRelayEvents(tx: Transaction, limit: number, settledMs: number): Promise<SealedRelayEvent[]> {
  const undispatched = isNull(sessionEvents.dispatchedAt);
  const rows = await tx
    .select({
      id: sessionEvents.id,
      sessionId: sessionEvents.sessionId,
      seq: sessionEvents.seq,
      type: sessionEvents.type,
      at: sessionEvents.at,
      data: sessionEvents.data,
      patientId: vapiSessions.patientId,
      trace: sessionEvents.traceContext,
    })
    .from(sessionEvents)
    .innerJoin(vapiSessions, eq(vapiSessions.id, sessionEvents.sessionId))
    .where(settledMs > 0 ? and(undispatched, lt(sessionEvents.createdAt, sql`now() - ${settledMs} * interval '1 millisecond'`)) : undispatched)
    .orderBy(asc(sessionEvents.id))
    .limit(limit)
    .for('update', { of: sessionEvents, skipLocked: true });
  return rows.map(({ trace, ...row }) => ({ ...row, type: row.type as RelayEventType, ...(trace ? { trace } : {}) }));
}

/** Marks relay events published. */
export async function markRelayEventsDispatched(db: Database | Transaction, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .update(sessionEvents)
    .set({ dispatchedAt: new Date() })
    .where(anyOf(sessionEvents.id, ids, 'bigint'));
}

/** Claims up to `limit` undispatched notification intents, oldest first, skipping rows another dispatcher holds. */
export function claimNotifications(tx: Transaction, limit: number) {
  return tx
    .select()
    .from(notificationOutbox)
    .where(isNull(notificationOutbox.dispatchedAt))
    .orderBy(asc(notificationOutbox.id))
    .limit(limit)
    .for('update', { skipLocked: true });
}

/** Marks notification intents handed to the delivery queue. */
export async function markNotificationsDispatched(tx: Transaction, ids: number[]): Promise<void> {
  await tx
    .update(notificationOutbox)
    .set({ dispatchedAt: new Date() })
    .where(and(anyOf(notificationOutbox.id, ids, 'bigint'), isNull(notificationOutbox.dispatchedAt)));
}
