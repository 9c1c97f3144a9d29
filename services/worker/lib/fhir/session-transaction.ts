import type { Bundle, Identifier } from '@medplum/fhirtypes';
import type { AuditRow } from '#shared/audit';
import { auditEventResource } from '#shared/fhir/audit-event';
import { transactionBundle, type ConditionalEntry } from '#shared/fhir/bundle';
import { appointmentResource, patientResource } from '#shared/fhir/clinic';
import { identifierOf, type Entry } from '#shared/fhir/ids';
import { callEncounter, summaryDocument, utteranceCommunication } from '#shared/fhir/session';
import type { SessionRecord } from './session-record-repository.ts';

const token = ({ system, value }: Identifier) => `${encodeURIComponent(system!)}|${encodeURIComponent(value!)}`;

/** Created unless the server holds a resource with this entry's own identifier (every resource here has ours). */
function byIdentifier(entry: Entry & { resource: { identifier?: Identifier[] } }): ConditionalEntry {
  return { ...entry, ifNoneExist: `identifier=${token(entry.resource.identifier![0]!)}` };
}

/**
 * A completed call as a FHIR R4 transaction: its patient (matched by our identifier, created bare
 * if the server has none), the Encounter, one Communication per utterance, the summary as a
 * DocumentReference, the appointments booked during the call, and the AuditEvent of this export.
 * Each is a conditional create on identifiers derived from our ids, so a redelivery (a retry after
 * a lost answer, a replayed dead letter) creates nothing twice. R4's AuditEvent has no identifier:
 * it is matched by its type and a `subtype` naming the session ("more specific type/id for the
 * event", a plain token search every server has; `entity:identifier` would be closer, but HAPI
 * refuses that modifier).
 */
export function sessionTransaction(record: SessionRecord, audit: AuditRow): Bundle {
  const { call } = record;
  const session = identifierOf('session', call.id);
  const exported = auditEventResource(audit);
  const auditEntry = { ...exported, resource: { ...exported.resource, subtype: [{ system: session.system!, code: session.value! }] } };
  const entries: ConditionalEntry[] = [
    ...(record.patient ? [byIdentifier(patientResource(record.patient))] : []),
    byIdentifier(callEncounter(call)),
    ...record.utterances.map((utterance) => byIdentifier(utteranceCommunication(utterance))),
    ...(call.summary !== null ? [byIdentifier(summaryDocument({ ...call, summary: call.summary }))] : []),
    ...record.appointments.map((appointment) => byIdentifier(appointmentResource(appointment))),
    { ...auditEntry, ifNoneExist: `type=${token({ system: exported.resource.type.system, value: audit.action })}&subtype=${token(session)}` },
  ];
  return transactionBundle(entries, audit.at);
}
