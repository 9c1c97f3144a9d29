import { describe, expect, it } from 'vitest';
import type { AuditRow } from '#shared/audit';
import { auditEventResource } from '#shared/fhir/audit-event';
import { collectionBundle } from '#shared/fhir/bundle';
import { appointmentResource, healthRecordResource, orderResource, patientResource } from '#shared/fhir/clinic';
import { fullUrlOf } from '#shared/fhir/ids';
import { callEncounter, summaryDocument, utteranceCommunication } from '#shared/fhir/session';
import { fhirProblems } from '../helpers/fhir-validator.ts';

const call = {
  id: 'call-1',
  patientId: 'pat-ada',
  status: 'completed',
  startedAt: new Date('2026-11-20T15:00:00Z'),
  endedAt: new Date('2026-11-20T15:04:00Z'),
};
const audit: AuditRow = {
  id: 7,
  at: new Date('2026-11-21T09:00:00Z'),
  actor: 'admin',
  action: 'dead-letter.show',
  patientId: 'pat-ada',
  sessionId: 'call-1',
  what: ['dead letter events/ev-1'],
  source: '10.0.0.7',
  outcome: 'success',
};

describe('FHIR builders', () => {
  it('build resources the R4 validator accepts, for every kind of record', () => {
    const entries = [
      patientResource({ id: 'pat-ada', firstName: 'Ada', lastName: 'Moreno', dateOfBirth: '1984-03-03', phoneNumber: '+15550100101' }),
      patientResource({ id: 'pat-app-only' }),
      callEncounter(call),
      callEncounter({ ...call, id: 'call-2', patientId: null, status: 'ringing', startedAt: null, endedAt: null }),
      utteranceCommunication({
        id: 1,
        sessionId: 'call-1',
        patientId: 'pat-ada',
        role: 'user',
        transcript: 'My knee hurts.',
        timestamp: new Date('2026-11-20T15:01:00Z'),
      }),
      utteranceCommunication({
        id: 2,
        sessionId: 'call-2',
        patientId: null,
        role: 'assistant',
        transcript: 'How can I help?',
        timestamp: new Date('2026-11-20T15:01:05Z'),
      }),
      summaryDocument({ ...call, summary: 'Call lasted 4 min 0 s.' }),
      appointmentResource({
        id: 'appt-1',
        patientId: 'pat-ada',
        status: 'booked',
        startsAt: new Date('2026-12-01T14:00:00Z'),
        endsAt: new Date('2026-12-01T14:30:00Z'),
        provider: 'Dr. Amara Okafor',
        reason: null,
      }),
      healthRecordResource({
        id: 'hr-1',
        patientId: 'pat-ada',
        category: 'allergies',
        data: { substance: 'penicillin', reaction: 'hives' },
        recordedAt: new Date('2020-01-01'),
      })!,
      healthRecordResource({
        id: 'hr-2',
        patientId: 'pat-ada',
        category: 'medications',
        data: { name: 'lisinopril', dose: '10 mg', since: '2023-05-10' },
        recordedAt: new Date('2023-05-10'),
      })!,
      healthRecordResource({
        id: 'hr-3',
        patientId: 'pat-ada',
        category: 'visits',
        data: { date: '2026-09-14', reason: 'blood pressure check' },
        recordedAt: new Date('2026-09-14'),
        provider: 'Dr. Amara Okafor',
      })!,
      orderResource({
        id: 'ord-1',
        patientId: 'pat-ada',
        kind: 'prescription',
        description: 'lisinopril refill',
        status: 'ready for pickup',
        updatedAt: new Date('2026-11-18T10:00:00Z'),
      }),
      orderResource({
        id: 'ord-2',
        patientId: 'pat-ada',
        kind: 'lab',
        description: 'lipid panel',
        status: 'results available',
        updatedAt: new Date('2026-11-18T10:00:00Z'),
      }),
      auditEventResource(audit),
      auditEventResource({ ...audit, id: 8, actor: 'system', action: 'patient.erase', patientId: null, sessionId: null, source: 'cli', outcome: 'failed' }),
    ];
    expect(entries.map((entry) => entry.resource.resourceType)).toEqual([
      'Patient',
      'Patient',
      'Encounter',
      'Encounter',
      'Communication',
      'Communication',
      'DocumentReference',
      'Appointment',
      'AllergyIntolerance',
      'MedicationStatement',
      'Encounter',
      'MedicationRequest',
      'ServiceRequest',
      'AuditEvent',
      'AuditEvent',
    ]);
    expect(fhirProblems(collectionBundle(entries))).toEqual([]);
  });

  it('is what the validator refuses when a required part is missing, so a pass means something', () => {
    const encounter = callEncounter(call);
    const { class: _class, ...classless } = encounter.resource;
    expect(fhirProblems(collectionBundle([{ ...encounter, resource: classless as typeof encounter.resource }]))).toEqual(
      expect.arrayContaining([expect.stringMatching(/class: Missing required property/)]),
    );
  });

  it('gives a record the same urn:uuid every time, and each record its own', () => {
    expect(fullUrlOf('session', 'call-1')).toBe(fullUrlOf('session', 'call-1'));
    expect(fullUrlOf('session', 'call-1')).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set([fullUrlOf('session', 'x'), fullUrlOf('summary', 'x'), fullUrlOf('session', 'y')]).size).toBe(3);
    expect(callEncounter(call).resource.subject).toEqual({ reference: patientResource({ id: 'pat-ada' }).fullUrl });
  });
});
