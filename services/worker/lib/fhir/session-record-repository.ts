import { asc, eq } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { appointments, appointmentSlots, patients, providers, toolCalls, vapiMessages, vapiSessions } from '#shared/db/schema';
import type { AppointmentFacts, PatientFacts } from '#shared/fhir/clinic';
import type { CallFacts, UtteranceFacts } from '#shared/fhir/session';

/** A completed call as the clinic's FHIR server is sent it: decrypted, read at send time from Postgres. */
export interface SessionRecord {
  call: CallFacts & { summary: string | null };
  /** Null for a call bound to no patient; only the id when our app's patient has no `patients` row. */
  patient: PatientFacts | null;
  utterances: UtteranceFacts[];
  appointments: AppointmentFacts[];
}

/**
 * Reads one session for its FHIR export: the session, its patient, its utterances in the order
 * they were spoken, the tools it called and the appointments booked during it. Null when the
 * session is no longer held (erased or past retention): there is nothing left to send.
 */
export async function readSessionRecord(db: Database, cipher: FieldCipher, sessionId: string): Promise<SessionRecord | null> {
  const [session] = await db.select().from(vapiSessions).where(eq(vapiSessions.id, sessionId));
  if (!session) return null;
  const patientId = session.patientId;
  const [patientRow] = patientId ? await db.select().from(patients).where(eq(patients.id, patientId)) : [];
  const messages = await db
    .select({ id: vapiMessages.id, role: vapiMessages.role, transcript: vapiMessages.transcript, timestamp: vapiMessages.timestamp })
    .from(vapiMessages)
    .where(eq(vapiMessages.sessionId, sessionId))
    .orderBy(asc(vapiMessages.timestamp), asc(vapiMessages.id));
  const tools = await db.select({ name: toolCalls.name }).from(toolCalls).where(eq(toolCalls.sessionId, sessionId)).orderBy(asc(toolCalls.createdAt));
  const booked = await db
    .select({
      id: appointments.id,
      patientId: appointments.patientId,
      status: appointments.status,
      reason: appointments.reason,
      startsAt: appointmentSlots.startsAt,
      endsAt: appointmentSlots.endsAt,
      provider: providers.name,
    })
    .from(appointments)
    .innerJoin(appointmentSlots, eq(appointmentSlots.id, appointments.slotId))
    .innerJoin(providers, eq(providers.id, appointmentSlots.providerId))
    .where(eq(appointments.sessionId, sessionId))
    .orderBy(asc(appointments.createdAt));

  const bookedInClear = booked.map((row) => ({ ...row, reason: row.reason === null ? null : cipher.decrypt(row.reason) }));
  const patient: PatientFacts | null = patientRow
    ? {
        id: patientRow.id,
        firstName: cipher.decrypt(patientRow.firstName),
        lastName: cipher.decrypt(patientRow.lastName),
        dateOfBirth: cipher.decrypt(patientRow.dateOfBirth),
        phoneNumber: patientRow.phoneNumber === null ? null : cipher.decrypt(patientRow.phoneNumber),
      }
    : patientId
      ? { id: patientId }
      : null;
  return {
    call: {
      id: session.id,
      patientId,
      status: session.status,
      startedAt: session.startedAt,
      endedAt: session.endedAt,
      summary: session.transcriptSummary === null ? null : cipher.decrypt(session.transcriptSummary),
      toolsUsed: [...new Set(tools.map((tool) => tool.name))],
      reasons: [...new Set(bookedInClear.flatMap((appointment) => appointment.reason ?? []))],
    },
    patient,
    utterances: messages.map((message) => ({ ...message, sessionId, patientId, transcript: cipher.decrypt(message.transcript) })),
    appointments: bookedInClear,
  };
}
