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
  /** The session's last stored `seq` (0 when it has none, or is nobody's). */
  lastSeq: number;
}

/**
 * Reads one page of a session's stored events and its owner in one statement: the session by its
 * key, its events by the `(session_id, seq)` index in a lateral subquery that stops at `limit`, so a
 * page costs the same early or late in a long session. Callers check the owner before showing
 * anything of it.
 */
export async function readSessionEvents(
  db: Database,
  cipher: FieldCipher,
  sessionId: string,
  afterSeq: number,
  limit: number,
  /** When given, a session of anyone else reads as one that does not exist, and nothing of it is decrypted. */
  owner?: string,
): Promise<SessionEventsPage> {
  const page = db
    .select({ seq: sessionEvents.seq, type: sessionEvents.type, at: sessionEvents.at, data: sessionEvents.data })
    .from(sessionEvents)
    .where(and(eq(sessionEvents.sessionId, vapiSessions.id), gt(sessionEvents.seq, afterSeq)))
    .orderBy(asc(sessionEvents.seq))
    .limit(limit)
    .as('page');
  const rows = await db
    .select({ patientId: vapiSessions.patientId, lastSeq: vapiSessions.lastSeq, event: { seq: page.seq, type: page.type, at: page.at, data: page.data } })
    .from(vapiSessions)
    .leftJoinLateral(page, sql`true`)
    .where(and(eq(vapiSessions.id, sessionId), owner === undefined ? undefined : eq(vapiSessions.patientId, owner)))
    .orderBy(asc(page.seq));
  const patientId = rows[0]?.patientId ?? null;
  if (!patientId) return { patientId: null, events: [], lastSeq: 0 };
  const events = rows.flatMap(({ event }): RelayEvent[] => (event ? [storedRelayEvent({ ...event, sessionId, data: cipher.decryptJson(event.data) })] : []));
  return { patientId, events, lastSeq: rows[0]!.lastSeq };
}
