import { asc, eq, inArray, or, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { AuditRow } from '#shared/audit';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { decryptRow } from '#shared/db/encrypted-columns';
import {
  appointments,
  appointmentSlots,
  auditEvents,
  healthRecords,
  notificationAttempts,
  notificationOutbox,
  orders,
  patients,
  providers,
  sessionEvents,
  toolCalls,
  vapiEvents,
  vapiMessages,
  vapiSessions,
} from '#shared/db/schema';

/** Rows about one patient that an export reads and an erasure removes, found the same way by both. */
export const sessionsOf = (patientId: string) => eq(vapiSessions.patientId, patientId);
export const notificationsOf = (patientId: string, sessionIds: string[]) =>
  or(eq(notificationOutbox.patientId, patientId), inArray(notificationOutbox.sessionId, sessionIds));
export const auditRowsOf = (patientId: string, sessionIds: string[]) => or(eq(auditEvents.patientId, patientId), inArray(auditEvents.sessionId, sessionIds));

/**
 * Every table holding a patient's data, and which of its rows are theirs (their calls' rows by
 * session, notification attempts by their outbox rows), in an order rows can be deleted in.
 */
export function patientRows(patientId: string, sessionIds: string[], notificationIds: number[]): [PgTable, SQL | undefined][] {
  return [
    [notificationAttempts, inArray(notificationAttempts.notificationId, notificationIds)],
    [notificationOutbox, notificationsOf(patientId, sessionIds)],
    [toolCalls, inArray(toolCalls.sessionId, sessionIds)],
    [vapiEvents, inArray(vapiEvents.sessionId, sessionIds)],
    [sessionEvents, inArray(sessionEvents.sessionId, sessionIds)],
    [vapiMessages, inArray(vapiMessages.sessionId, sessionIds)],
    [vapiSessions, sessionsOf(patientId)],
    [appointments, eq(appointments.patientId, patientId)],
    [healthRecords, eq(healthRecords.patientId, patientId)],
    [orders, eq(orders.patientId, patientId)],
    [patients, eq(patients.id, patientId)],
  ];
}

/** Thrown for a patient of whom nothing is held: no patient row and no session of theirs. */
export class UnknownPatientError extends Error {
  override name = 'UnknownPatientError';
  constructor(patientId: string) {
    super(`no patient ${patientId}: no patient record and no call of theirs is held`);
  }
}

/**
 * Everything held about one patient, decrypted: their record, their calls (summary, utterances, tool
 * calls with arguments and answers, the event log's entries), their appointments, health records and
 * orders, the notifications sent about them with every delivery attempt, and the audit rows about
 * them. Raw webhook payloads are Vapi's own copies of the same calls, listed by id and type only.
 * Throws UnknownPatientError when nothing is held.
 */
export async function readPatientData(db: Database, cipher: FieldCipher, patientId: string) {
  const open = <T extends Record<string, unknown>>(table: Parameters<typeof decryptRow>[1], rows: T[]) =>
    rows.map((row) => decryptRow(cipher, table, row) as T);
  const [patient] = open(patients, await db.select().from(patients).where(eq(patients.id, patientId)));
  const sessions = open(vapiSessions, await db.select().from(vapiSessions).where(sessionsOf(patientId)).orderBy(asc(vapiSessions.createdAt)));
  if (!patient && sessions.length === 0) throw new UnknownPatientError(patientId);
  const ids = sessions.map((session) => session.id);

  const messages = open(
    vapiMessages,
    await db.select().from(vapiMessages).where(inArray(vapiMessages.sessionId, ids)).orderBy(asc(vapiMessages.timestamp), asc(vapiMessages.id)),
  );
  const calls = open(toolCalls, await db.select().from(toolCalls).where(inArray(toolCalls.sessionId, ids)).orderBy(asc(toolCalls.createdAt)));
  const events = await db
    .select({ id: vapiEvents.id, sessionId: vapiEvents.sessionId, type: vapiEvents.type, occurredAt: vapiEvents.occurredAt, receivedAt: vapiEvents.receivedAt })
    .from(vapiEvents)
    .where(inArray(vapiEvents.sessionId, ids))
    .orderBy(asc(vapiEvents.receivedAt));
  const booked = await db
    .select({ appointment: appointments, startsAt: appointmentSlots.startsAt, endsAt: appointmentSlots.endsAt, provider: providers.name })
    .from(appointments)
    .innerJoin(appointmentSlots, eq(appointmentSlots.id, appointments.slotId))
    .innerJoin(providers, eq(providers.id, appointmentSlots.providerId))
    .where(eq(appointments.patientId, patientId))
    .orderBy(asc(appointmentSlots.startsAt));
  const records = open(
    healthRecords,
    await db.select().from(healthRecords).where(eq(healthRecords.patientId, patientId)).orderBy(asc(healthRecords.recordedAt)),
  );
  const patientOrders = open(orders, await db.select().from(orders).where(eq(orders.patientId, patientId)).orderBy(asc(orders.updatedAt)));
  const notifications = open(
    notificationOutbox,
    await db.select().from(notificationOutbox).where(notificationsOf(patientId, ids)).orderBy(asc(notificationOutbox.id)),
  );
  const attempts = await db
    .select()
    .from(notificationAttempts)
    .where(
      inArray(
        notificationAttempts.notificationId,
        notifications.map((n) => n.id),
      ),
    )
    .orderBy(asc(notificationAttempts.id));
  const audit: AuditRow[] = await db.select().from(auditEvents).where(auditRowsOf(patientId, ids)).orderBy(asc(auditEvents.at));
  const names = new Map((await db.select({ id: providers.id, name: providers.name }).from(providers)).map((p) => [p.id, p.name]));

  return {
    patientId,
    patient: patient ?? null,
    sessions: sessions.map((session) => ({
      ...session,
      messages: messages
        .filter((m) => m.sessionId === session.id)
        .map(({ role, transcript, timestamp, metadata, id }) => ({ id, role, transcript, timestamp, metadata })),
      toolCalls: calls.filter((c) => c.sessionId === session.id),
      events: events.filter((e) => e.sessionId === session.id),
    })),
    appointments: booked.map(
      ({ appointment, startsAt, endsAt, provider }) =>
        ({ ...decryptRow(cipher, appointments, appointment), startsAt, endsAt, provider }) as typeof appointment & {
          startsAt: Date;
          endsAt: Date;
          provider: string;
        },
    ),
    healthRecords: records.map((record) => {
      const data = record.data as unknown as Record<string, unknown>;
      const provider = typeof data.providerId === 'string' ? names.get(data.providerId) : undefined;
      return { ...record, data, ...(provider ? { provider } : {}) };
    }),
    orders: patientOrders,
    notifications: notifications.map((notification) => ({ ...notification, attempts: attempts.filter((a) => a.notificationId === notification.id) })),
    auditEvents: audit,
  };
}

export type PatientData = Awaited<ReturnType<typeof readPatientData>>;
