import { isIP } from 'node:net';
import type { AuditEvent, Patient } from '@medplum/fhirtypes';
import type { AuditRow } from '../audit.ts';
import { entryOf, referenceTo, type Entry } from './ids.ts';

/** FHIR's action code: what an action of ours does to the data (Read, Delete, Execute, Update). */
function actionCode(action: string): AuditEvent['action'] {
  if (/\.(show|read|export)$/.test(action)) return 'R';
  if (/\.(purge|erase|delete)$/.test(action)) return 'D';
  if (/\.replay$/.test(action)) return 'E';
  return 'U';
}

const OUTCOME: Record<string, AuditEvent['outcome']> = { success: '0', 'not-found': '4', failed: '8' };

/** One `audit_events` row as a FHIR AuditEvent: who (from where), what, about whom, which records, when, how it ended. */
export function auditEventResource(row: AuditRow): Entry<AuditEvent> {
  const patient = row.patientId ? referenceTo<Patient>('patient', row.patientId) : undefined;
  return entryOf('audit-event', row.id, {
    resourceType: 'AuditEvent',
    type: { system: 'urn:vapi-relay:audit-action', code: row.action },
    action: actionCode(row.action),
    recorded: row.at.toISOString(),
    outcome: OUTCOME[row.outcome] ?? '8',
    agent: [
      {
        who: row.actor === 'patient' && patient ? patient : { display: row.actor },
        requestor: row.actor === 'admin' || row.actor === 'patient',
        ...(isIP(row.source) ? { network: { address: row.source, type: '2' as const } } : { altId: row.source }),
      },
    ],
    source: { observer: { display: 'vapi-relay' } },
    entity: [
      ...(patient ? [{ what: patient }] : []),
      ...(row.sessionId ? [{ what: referenceTo('session', row.sessionId) }] : []),
      ...row.what.map((name) => ({ name })),
    ],
  });
}
