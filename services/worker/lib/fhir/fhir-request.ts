import { UnrecoverableError } from 'bullmq';
import { recordAudit } from '#shared/audit';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { readSessionRecord, type SessionRecord } from './session-record-repository.ts';
import { sessionTransaction } from './session-transaction.ts';

/** FHIR_BASE_URL and FHIR_AUTH_TOKEN, as the worker's config holds them. */
export interface FhirServer {
  baseUrl: string;
  authToken: string;
}

/** What one export reads, by table and count, for its audit row. */
const readCounts = (record: SessionRecord) => [
  `vapi_sessions (1)`,
  `patients (${record.patient?.firstName !== undefined ? 1 : 0})`,
  `vapi_messages (${record.utterances.length})`,
  `appointments (${record.appointments.length})`,
];

/**
 * The request that sends one completed call to the clinic's FHIR server, built at send time from
 * what Postgres holds (decrypted here, never kept in Redis): its transaction Bundle, with the
 * Bearer token when one is set. Each build is a read of health data sent out, recorded in
 * `audit_events` and carried in the Bundle as its AuditEvent. A session no longer held (erased,
 * past retention) fails for good: there is nothing left to send.
 */
export async function fhirRequest(db: Database, cipher: FieldCipher, server: FhirServer, sessionId: string) {
  const record = await readSessionRecord(db, cipher, sessionId);
  if (!record) throw new UnrecoverableError('The session is no longer held (erased or past retention): nothing to send to the FHIR server');
  const audit = await recordAudit(db, {
    actor: 'system',
    action: 'fhir.export',
    patientId: record.call.patientId,
    sessionId,
    what: [`to ${new URL(server.baseUrl).host}`, ...readCounts(record)],
    source: 'worker',
  });
  const headers: Record<string, string> = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
  if (server.authToken) headers.authorization = `Bearer ${server.authToken}`;
  return { body: JSON.stringify(sessionTransaction(record, audit)), headers };
}
