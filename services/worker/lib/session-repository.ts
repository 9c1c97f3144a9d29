import { count, eq, inArray, sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { notificationOutbox, patients, sessionEvents, vapiEvents, vapiMessages, vapiSessions, type SessionRow } from '#shared/db/schema';
import { obj, str, type IncomingEvent, type JsonObject } from '#shared/vapi/envelope';
import { callerIdentity, type CallerIdentity, type Turns } from '#shared/vapi/read';
import type { NewMessage, PendingRelayEvent } from './event-changes.ts';

export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/** Records the event under its id; false when it was recorded before (a redelivery: do nothing). */
export async function recordEvent(
  tx: Transaction,
  row: { id: string; sessionId: string | null; type: string; occurredAt: Date | null; receivedAt: Date; payload: string },
): Promise<boolean> {
  const inserted = await tx.insert(vapiEvents).values(row).onConflictDoNothing().returning({ id: vapiEvents.id });
  return inserted.length > 0;
}

interface PatientBinding {
  patientId: string | null;
  patientVerified: boolean;
  callerHash: string | null;
}

/**
 * Who the call is about: `call.metadata.patientId`, which our own app sets for a logged-in patient
 * (so it verifies), else the patient whose phone matches the caller (binds without verifying),
 * else nobody. Unknown callers still get a session.
 */
async function bindPatient(tx: Transaction, cipher: FieldCipher, { claimedPatientId, callerNumber }: CallerIdentity): Promise<PatientBinding> {
  const callerHash = callerNumber ? cipher.lookupHash(callerNumber) : null;
  if (claimedPatientId) return { patientId: claimedPatientId, patientVerified: true, callerHash };
  if (callerNumber) {
    const matches = await tx
      .select({ id: patients.id })
      .from(patients)
      .where(inArray(patients.phoneHash, cipher.lookupHashes(callerNumber)))
      .limit(2);
    // Two patients sharing a number (a family phone) is ambiguous: bind neither.
    if (matches.length === 1) return { patientId: matches[0]!.id, patientVerified: false, callerHash };
  }
  return { patientId: null, patientVerified: false, callerHash };
}

/** What starts a session: who is calling, and what Vapi says about the call. */
export interface SessionOrigin {
  identity: CallerIdentity;
  callType?: string | undefined;
  assistantId?: string | undefined;
  phoneNumberId?: string | undefined;
  /** `vapi`, `story` or `chat`, kept in the session's metadata. */
  source: string;
}

/** The origin an event gives its session. */
export function sessionOriginOf(event: IncomingEvent): SessionOrigin {
  const call = obj(event.message.call);
  return {
    identity: callerIdentity(event.message),
    callType: str(call.type),
    assistantId: str(call.assistantId),
    phoneNumberId: str(call.phoneNumberId),
    source: event.callId ? event.source : 'chat',
  };
}

/** True when a session without a patient gets identity it has not tried yet. */
function bringsNewIdentity(session: SessionRow, { claimedPatientId, callerNumber }: CallerIdentity): boolean {
  if (session.patientId) return false;
  return claimedPatientId !== undefined || (callerNumber !== undefined && session.callerHash === null);
}

/**
 * The call's session, created (and its patient bound) on its first event, and locked for this
 * transaction so that concurrent events of one call take turns and `seq` stays gap-free. A session
 * created without a patient (its first event carried no identity, or arrived before the patient
 * existed) is bound by the first later event that brings one.
 */
export async function lockOrCreateSession(
  tx: Transaction,
  cipher: FieldCipher,
  sessionId: string,
  origin: SessionOrigin,
): Promise<SessionRow> {
  const [existing] = await tx.select().from(vapiSessions).where(eq(vapiSessions.id, sessionId)).for('update');
  if (existing) {
    if (!bringsNewIdentity(existing, origin.identity)) return existing;
    const binding = await bindPatient(tx, cipher, origin.identity);
    const [rebound] = await tx
      .update(vapiSessions)
      .set({ ...binding, callerHash: existing.callerHash ?? binding.callerHash })
      .where(eq(vapiSessions.id, sessionId))
      .returning();
    return rebound!;
  }

  await tx
    .insert(vapiSessions)
    .values({
      id: sessionId,
      ...(await bindPatient(tx, cipher, origin.identity)),
      callType: origin.callType ?? null,
      assistantId: origin.assistantId ?? null,
      phoneNumberId: origin.phoneNumberId ?? null,
      metadata: { source: origin.source },
    })
    .onConflictDoNothing();
  // Re-read under lock: a concurrent first event of the same call may have inserted it first.
  const [created] = await tx.select().from(vapiSessions).where(eq(vapiSessions.id, sessionId)).for('update');
  return created!;
}

export async function insertMessages(
  tx: Transaction,
  cipher: FieldCipher,
  sessionId: string,
  eventId: string,
  messages: NewMessage[],
): Promise<void> {
  const rows = messages.map((message, index) => ({
    sessionId,
    // One event normally makes one message; a backfill makes several, each with its own id.
    eventId: messages.length === 1 ? eventId : `${eventId}.${index}`,
    role: message.role,
    transcript: cipher.encrypt(message.transcript),
    timestamp: message.timestamp,
    metadata: message.metadata,
  }));
  // A long artifact goes in chunks: one statement may bind at most 65,535 parameters.
  for (let start = 0; start < rows.length; start += MESSAGES_PER_INSERT) {
    await tx.insert(vapiMessages).values(rows.slice(start, start + MESSAGES_PER_INSERT)).onConflictDoNothing();
  }
}

/** Rows per insert of messages: 6 parameters each, well under Postgres's limit of 65,535. */
const MESSAGES_PER_INSERT = 1_000;

export async function countStoredTurns(tx: Transaction, sessionId: string): Promise<Turns> {
  const rows = await tx
    .select({ role: vapiMessages.role, n: count() })
    .from(vapiMessages)
    .where(eq(vapiMessages.sessionId, sessionId))
    .groupBy(vapiMessages.role);
  const turns: Turns = { user: 0, assistant: 0, system: 0 };
  for (const row of rows) turns[row.role as keyof Turns] = row.n;
  return turns;
}

/** Appends relay events to the outbox with the session's next `seq` values; returns them numbered. */
export async function appendToOutbox(
  tx: Transaction,
  cipher: FieldCipher,
  session: SessionRow,
  events: PendingRelayEvent[],
): Promise<(PendingRelayEvent & { seq: number })[]> {
  if (events.length === 0) return [];
  const numbered = events.map((event, index) => ({ ...event, seq: session.lastSeq + index + 1 }));
  await tx.insert(sessionEvents).values(
    numbered.map((event) => ({
      sessionId: session.id,
      seq: event.seq,
      type: event.type,
      at: event.at,
      data: cipher.encryptJson(event.data),
    })),
  );
  return numbered;
}

export async function updateSession(tx: Transaction, sessionId: string, values: Partial<SessionRow>): Promise<void> {
  await tx
    .update(vapiSessions)
    .set({ ...values, updatedAt: sql`now()` })
    .where(eq(vapiSessions.id, sessionId));
}

/** Records a notification intent (session ended, terminal error) for the dispatcher to deliver. */
export async function appendNotification(
  tx: Transaction,
  cipher: FieldCipher,
  session: SessionRow,
  notification: { type: string; at: Date; data: JsonObject },
): Promise<void> {
  await tx.insert(notificationOutbox).values({
    sessionId: session.id,
    patientId: session.patientId,
    type: notification.type,
    occurredAt: notification.at,
    data: cipher.encryptJson(notification.data),
  });
}

/** Appends relay events and moves the session's `last_seq` past them: for writers that change nothing else. */
export async function appendSessionEvents(tx: Transaction, cipher: FieldCipher, session: SessionRow, events: PendingRelayEvent[]): Promise<void> {
  const numbered = await appendToOutbox(tx, cipher, session, events);
  await updateSession(tx, session.id, { lastSeq: session.lastSeq + numbered.length });
}
