import type { AllergyIntolerance, Appointment, Encounter, MedicationRequest, MedicationStatement, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { entryOf, identifierOf, referenceTo, type Entry } from './ids.ts';

/** A patient in clear; without a `patients` row (our app's id, trusted as is) only the id is known. */
export interface PatientFacts {
  id: string;
  firstName?: string | undefined;
  lastName?: string | undefined;
  /** YYYY-MM-DD */
  dateOfBirth?: string | undefined;
  /** E.164 */
  phoneNumber?: string | null | undefined;
}

export interface AppointmentFacts {
  id: string;
  patientId: string;
  status: string;
  startsAt: Date;
  endsAt: Date;
  provider: string;
  reason: string | null;
}

/** One `health_records` row, its entry decrypted (seed/clinic-data.ts shows their shapes). */
export interface HealthRecordFacts {
  id: string;
  patientId: string;
  category: string;
  data: Record<string, unknown>;
  recordedAt: Date;
  /** For a visit: the name of the provider its `providerId` names. */
  provider?: string | undefined;
}

export interface OrderFacts {
  id: string;
  patientId: string;
  kind: string;
  description: string;
  status: string;
  updatedAt: Date;
}

const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined);

export function patientResource(patient: PatientFacts): Entry<Patient> {
  return entryOf('patient', patient.id, {
    resourceType: 'Patient',
    identifier: [identifierOf('patient', patient.id)],
    ...(patient.firstName || patient.lastName
      ? { name: [{ ...(patient.lastName ? { family: patient.lastName } : {}), ...(patient.firstName ? { given: [patient.firstName] } : {}) }] }
      : {}),
    ...(patient.dateOfBirth ? { birthDate: patient.dateOfBirth } : {}),
    ...(patient.phoneNumber ? { telecom: [{ system: 'phone', value: patient.phoneNumber }] } : {}),
  });
}

export function appointmentResource(appointment: AppointmentFacts): Entry<Appointment> {
  return entryOf('appointment', appointment.id, {
    resourceType: 'Appointment',
    identifier: [identifierOf('appointment', appointment.id)],
    status: appointment.status === 'cancelled' ? 'cancelled' : 'booked',
    start: appointment.startsAt.toISOString(),
    end: appointment.endsAt.toISOString(),
    ...(appointment.reason ? { reasonCode: [{ text: appointment.reason }] } : {}),
    participant: [
      { actor: referenceTo<Patient>('patient', appointment.patientId), status: 'accepted' },
      { actor: { display: appointment.provider }, status: 'accepted' },
    ],
  });
}

const CLINICAL_ACTIVE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] };
const AMBULATORY = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' };

/** An allergy, a medication or a visit as the resource FHIR keeps it in; null for a category it has none for. */
export function healthRecordResource(record: HealthRecordFacts): Entry<AllergyIntolerance | MedicationStatement | Encounter> | null {
  const patient = referenceTo<Patient>('patient', record.patientId);
  const identifier = [identifierOf('health-record', record.id)];
  const { data } = record;
  if (record.category === 'allergies') {
    return entryOf('health-record', record.id, {
      resourceType: 'AllergyIntolerance',
      identifier,
      clinicalStatus: CLINICAL_ACTIVE,
      code: { text: text(data.substance) ?? 'unknown substance' },
      patient,
      recordedDate: record.recordedAt.toISOString(),
      ...(text(data.reaction) ? { reaction: [{ manifestation: [{ text: text(data.reaction)! }] }] } : {}),
    });
  }
  if (record.category === 'medications') {
    return entryOf('health-record', record.id, {
      resourceType: 'MedicationStatement',
      identifier,
      status: 'active',
      medicationCodeableConcept: { text: text(data.name) ?? 'unknown medication' },
      subject: patient,
      ...(text(data.since) ? { effectivePeriod: { start: text(data.since)! } } : {}),
      ...(text(data.dose) ? { dosage: [{ text: text(data.dose)! }] } : {}),
    });
  }
  if (record.category === 'visits') {
    return entryOf('health-record', record.id, {
      resourceType: 'Encounter',
      identifier,
      status: 'finished',
      class: AMBULATORY,
      subject: patient,
      period: { start: text(data.date) ?? record.recordedAt.toISOString() },
      ...(record.provider ? { participant: [{ individual: { display: record.provider } }] } : {}),
      ...(text(data.reason) ? { reasonCode: [{ text: text(data.reason)! }] } : {}),
    });
  }
  return null;
}

/** The clinic's words for an order's state, as a request's status: done, called off, or still under way. */
function requestStatus(status: string): 'completed' | 'revoked' | 'active' {
  if (/results available|picked up|completed|done/i.test(status)) return 'completed';
  if (/cancel/i.test(status)) return 'revoked';
  return 'active';
}

/** A prescription refill as a MedicationRequest, a lab order as a ServiceRequest; the clinic's own status kept as a note. */
export function orderResource(order: OrderFacts): Entry<MedicationRequest | ServiceRequest> {
  const common = {
    identifier: [identifierOf('order', order.id)],
    intent: 'order' as const,
    subject: referenceTo<Patient>('patient', order.patientId),
    authoredOn: order.updatedAt.toISOString(),
    note: [{ text: `Clinic status: ${order.status}` }],
  };
  const status = requestStatus(order.status);
  if (order.kind === 'prescription') {
    return entryOf('order', order.id, {
      resourceType: 'MedicationRequest',
      ...common,
      status: status === 'revoked' ? 'cancelled' : status,
      medicationCodeableConcept: { text: order.description },
    });
  }
  return entryOf('order', order.id, { resourceType: 'ServiceRequest', ...common, status, code: { text: order.description } });
}
