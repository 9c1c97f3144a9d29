import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { sessionEvents, vapiSessions } from '#shared/db/schema';
import { storedRelayEvent, type RelayEvent } from '#shared/relay';

/** A page of a session's stored events, and whose session it is. */
export interface SessionEventsPage {
  /** null when the session does not exist or is bound to nobody: callers send nothing of it. */
  patientId: string | null;
  /** At most `limit` events with `seq > afterSeq`, in `seq` order, exactly as the socket sends them. */
  events: RelayEvent[];
}

/**
 * Reads one page of a session's stored events and its owner in one statement: the session by its
 * key, its events by the `(session_id, seq)` index in a lateral subquery that stops at `limit`, so a
 * page costs the same early or late in a long session. Callers check the owner before showing
 * anything of it.
 */
export async function readSessionEvents(db: Database, cipher: FieldCipher, sessionId: string, afterSeq: number, limit: number): Promise<SessionEventsPage> {
  const page = db
    .select({ seq: sessionEvents.seq, type: sessionEvents.type, at: sessionEvents.at, data: sessionEvents.data })
    .from(sessionEvents)
    .where(and(eq(sessionEvents.sessionId, vapiSessions.id), gt(sessionEvents.seq, afterSeq)))
    .orderBy(asc(sessionEvents.seq))
    .limit(limit)
    .as('page');
  const rows = await db
    .select({ patientId: vapiSessions.patientId, event: { seq: page.seq, type: page.type, at: page.at, data: page.data } })
    .from(vapiSessions)
    .leftJoinLateral(page, sql`true`)
    .where(eq(vapiSessions.id, sessionId))
    .orderBy(asc(page.seq));
  const patientId = rows[0]?.patientId ?? null;
  if (!patientId) return { patientId: null, events: [] };
  const events = rows.flatMap(({ event }): RelayEvent[] =>
    event ? [storedRelayEvent({ ...event, sessionId, data: cipher.decryptJson(event.data) })] : [],
  );
  return { patientId, events };
}
