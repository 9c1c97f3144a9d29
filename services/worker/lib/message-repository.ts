import { count, sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Transaction } from '#shared/db/client';
import { vapiMessages } from '#shared/db/schema';
import { anyOf, textArray } from '#shared/db/text-array';
import type { Turns } from '#shared/vapi/read';
import type { NewMessage } from './event-changes.ts';

/** Messages of one event (or one backfill) of a session, stored under ids derived from `eventId`. */
export interface SessionMessages {
  sessionId: string;
  eventId: string;
  messages: NewMessage[];
}

/** Stores transcripts encrypted, in one statement however many (a 30,000-message artifact binds six arrays). */
export async function insertMessages(tx: Transaction, cipher: FieldCipher, groups: SessionMessages[]): Promise<void> {
  const rows = groups.flatMap(({ sessionId, eventId, messages }) =>
    messages.map((message, index) => ({
      sessionId,
      // One event normally makes one message; a backfill makes several, each with its own id.
      eventId: messages.length === 1 ? eventId : `${eventId}.${index}`,
      message,
    })),
  );
  if (rows.length === 0) return;
  await tx.execute(sql`
    insert into ${vapiMessages} (session_id, event_id, role, transcript, timestamp, metadata)
    select m.session_id, m.event_id, m.role, m.transcript, m.timestamp::timestamptz, m.metadata::jsonb
    from unnest(
      ${textArray(rows.map((row) => row.sessionId))}, ${textArray(rows.map((row) => row.eventId))}, ${textArray(rows.map((row) => row.message.role))},
      ${textArray(rows.map((row) => cipher.encrypt(row.message.transcript)))}, ${textArray(rows.map((row) => row.message.timestamp.toISOString()))},
      ${textArray(rows.map((row) => JSON.stringify(row.message.metadata)))}
    ) as m(session_id, event_id, role, transcript, timestamp, metadata)
    on conflict do nothing`);
}

/** Messages stored so far per session and role; sessions with none are absent. */
export async function countStoredTurns(tx: Transaction, sessionIds: string[]): Promise<Map<string, Turns>> {
  const turns = new Map<string, Turns>();
  if (sessionIds.length === 0) return turns;
  const rows = await tx
    .select({ sessionId: vapiMessages.sessionId, role: vapiMessages.role, n: count() })
    .from(vapiMessages)
    .where(anyOf(vapiMessages.sessionId, sessionIds))
    .groupBy(vapiMessages.sessionId, vapiMessages.role);
  for (const row of rows) {
    const counted = turns.get(row.sessionId) ?? { user: 0, assistant: 0, system: 0 };
    counted[row.role as keyof Turns] = row.n;
    turns.set(row.sessionId, counted);
  }
  return turns;
}
