import type { Bundle } from '@medplum/fhirtypes';
import { recordAudit } from '#shared/audit';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { auditEventResource } from '#shared/fhir/audit-event';
import { collectionBundle } from '#shared/fhir/bundle';
import { appointmentResource, healthRecordResource, orderResource, patientResource } from '#shared/fhir/clinic';
import type { Entry } from '#shared/fhir/ids';
import { callEncounter, summaryDocument, utteranceCommunication } from '#shared/fhir/session';
import { readPatientData, type PatientData } from './patient-data.ts';

export const EXPORT_FORMATS = ['json', 'fhir'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The patient's data as a FHIR R4 Bundle of type `collection`, each record through its builder in shared/fhir. */
export function patientBundle(data: PatientData, at = new Date()): Bundle {
  const { patientId } = data;
  const entries: Entry[] = [
    patientResource({ ...(data.patient ?? {}), id: patientId }),
    ...data.sessions.flatMap((session) => {
      const call = { id: session.id, patientId, status: session.status, startedAt: session.startedAt, endedAt: session.endedAt };
      return [
        callEncounter(call),
        ...session.messages.map((message) => utteranceCommunication({ ...message, sessionId: session.id, patientId })),
        ...(session.transcriptSummary ? [summaryDocument({ ...call, summary: session.transcriptSummary })] : []),
      ];
    }),
    ...data.appointments.map((appointment) => appointmentResource(appointment)),
    ...data.healthRecords.flatMap((record) => healthRecordResource(record) ?? []),
    ...data.orders.map((order) => orderResource(order)),
    ...data.auditEvents.map((row) => auditEventResource(row)),
  ];
  return collectionBundle(entries, at);
}

/** What an export read, by table and count: the audit row's `what`. */
function readCounts(data: PatientData): string[] {
  const sessions = data.sessions;
  const counts: [string, number][] = [
    ['patients', data.patient ? 1 : 0],
    ['vapi_sessions', sessions.length],
    ['vapi_messages', sessions.reduce((sum, s) => sum + s.messages.length, 0)],
    ['tool_calls', sessions.reduce((sum, s) => sum + s.toolCalls.length, 0)],
    ['appointments', data.appointments.length],
    ['health_records', data.healthRecords.length],
    ['orders', data.orders.length],
    ['notification_outbox', data.notifications.length],
    ['audit_events', data.auditEvents.length],
  ];
  return counts.map(([table, n]) => `${table} (${n})`);
}

/**
 * Everything held about a patient, decrypted, as JSON or a FHIR Bundle (a string to print); the
 * export is recorded in `audit_events`. Throws UnknownPatientError when nothing is held.
 */
export async function exportPatient(db: Database, cipher: FieldCipher, patientId: string, format: ExportFormat, source: string): Promise<string> {
  const data = await readPatientData(db, cipher, patientId);
  const exported = format === 'fhir' ? patientBundle(data) : { exportedAt: new Date().toISOString(), ...data };
  await recordAudit(db, { actor: 'admin', action: 'patient.export', patientId, what: [`format ${format}`, ...readCounts(data)], source });
  return JSON.stringify(exported, null, 2);
}
