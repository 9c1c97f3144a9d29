import type { FastifyInstance } from 'fastify';
import type { Appointment, AuditEvent, Bundle, Communication, DocumentReference, Encounter, Patient } from '@medplum/fhirtypes';
import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { auditEvents, notificationAttempts, schema } from '#shared/db/schema';
import { TOOL_USED_EXTENSION } from '#shared/fhir/session';
import { notificationsQueue } from '#shared/queues/notifications-queue';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { SEED_PATIENTS } from '../../scripts/seed/clinic-data.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { fhirProblems } from '../helpers/fhir-validator.ts';
import { startFhirServer, type FhirAnswer, type FhirServer } from '../helpers/fhir-server.ts';
import { BOOKING_REASON, storePatientCalls } from '../helpers/patient-calls.ts';
import { expectNoPlaintext } from '../helpers/plaintext.ts';
import { openQueue } from '../helpers/queues.ts';
import { redisContents } from '../helpers/redis-contents.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, track, reset, close } = integrationResources();
const ada = SEED_PATIENTS[0]!;
const TOKEN = 'fhir-test-token-3c9e1f';
/** The summary realisticCall's end-of-call report carries. */
const SUMMARY = 'The patient asked to move an appointment with Dr. Okafor.';

let config: Config | undefined;
let server: FhirServer | undefined;

/**
 * A clinic whose worker sends completed calls to a local FHIR server answering `answers` first;
 * one call of Ada's stored the real way (signed webhooks into an ingress, tools run, a slot booked).
 */
async function completeACall(answers: FhirAnswer[] = []) {
  server = await startFhirServer(answers);
  config = testConfig({ FHIR_BASE_URL: `${server.baseUrl}/`, FHIR_AUTH_TOKEN: TOKEN, NOTIFY_RETRY_BASE_MS: '50' });
  const [ingress, worker] = track(
    await buildIngressApp({ config, logger: silentLogger() }),
    await buildWorkerApp({ config, logger: silentLogger() }),
  ) as FastifyInstance[];
  await Promise.all([ingress!.ready(), worker!.ready()]);
  await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
  const [call] = await storePatientCalls(ingress!, handle, ada, 1);
  return call!;
}

const attempts = () => handle.db.select().from(notificationAttempts).orderBy(asc(notificationAttempts.id));
const delivered = async () => (await attempts()).some((attempt) => attempt.outcome === 'delivered');
const ofType = <T>(bundle: Bundle, type: string) =>
  (bundle.entry ?? []).filter((entry) => entry.resource?.resourceType === type).map((entry) => entry.resource as T);

beforeEach(async () => reset('{none}')); // whatever an interrupted run left
afterEach(async () => {
  await reset(config?.queuePrefix ?? '{none}');
  await server?.close();
  server = undefined;
});
afterAll(async () => close());

describe('a completed call on the clinic FHIR server', () => {
  it('arrives as one valid transaction Bundle, with the Bearer token, every resource a conditional create', async () => {
    const call = await completeACall();
    await waitFor(delivered, 15_000);

    expect(server!.requests).toHaveLength(1);
    const { headers, bundle } = server!.requests[0]!;
    expect(headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(headers['content-type']).toBe('application/fhir+json');
    // The real R4 validator (Medplum's, on the R4 structure definitions), the Bundle whole and each resource on its own.
    expect(fhirProblems(bundle)).toEqual([]);
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry!.map((entry) => entry.resource!.resourceType)).toEqual([
      'Patient',
      'Encounter',
      ...call.finalTranscripts.map(() => 'Communication'),
      'DocumentReference',
      'Appointment',
      'AuditEvent',
    ]);
    for (const entry of bundle.entry!) {
      expect(entry.fullUrl).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
      expect(entry.request).toMatchObject({ method: 'POST', url: entry.resource!.resourceType, ifNoneExist: expect.any(String) });
    }

    const [encounter] = ofType<Encounter>(bundle, 'Encounter');
    const [patient] = ofType<Patient>(bundle, 'Patient');
    const patientUrl = bundle.entry![0]!.fullUrl;
    expect(encounter).toMatchObject({
      identifier: [{ system: 'urn:vapi-relay:session', value: call.callId }],
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
      subject: { reference: patientUrl },
      period: { start: expect.any(String), end: expect.any(String) },
      participant: [{ individual: { display: expect.any(String) } }],
      reasonCode: [{ text: BOOKING_REASON }],
    });
    // The three tools of one tool-calls message run side by side: which was first is a race.
    expect(
      encounter!
        .extension!.filter((e) => e.url === TOOL_USED_EXTENSION)
        .map((e) => e.valueCoding!.code)
        .sort(),
    ).toEqual(['get_health_records', 'lookup_order', 'schedule_appointment']);
    expect(bundle.entry!.find((entry) => entry.resource!.resourceType === 'Encounter')!.request!.ifNoneExist).toBe(
      `identifier=urn%3Avapi-relay%3Asession|${call.callId}`,
    );
    expect(patient).toMatchObject({
      identifier: [{ system: 'urn:vapi-relay:patient', value: ada.id }],
      name: [{ family: ada.lastName }],
      birthDate: ada.dateOfBirth,
    });

    const encounterUrl = bundle.entry![1]!.fullUrl;
    const communications = ofType<Communication>(bundle, 'Communication');
    expect(communications.map((c) => c.payload![0]!.contentString)).toEqual(call.finalTranscripts.map(([, text]) => text));
    expect(communications.every((c) => c.encounter!.reference === encounterUrl)).toBe(true);
    const [summary] = ofType<DocumentReference>(bundle, 'DocumentReference');
    expect(Buffer.from(summary!.content[0]!.attachment.data!, 'base64').toString()).toContain(SUMMARY);
    const [appointment] = ofType<Appointment>(bundle, 'Appointment');
    expect(appointment).toMatchObject({
      status: 'booked',
      reasonCode: [{ text: BOOKING_REASON }],
      participant: expect.arrayContaining([expect.objectContaining({ actor: { reference: patientUrl } })]),
    });
    const [audit] = ofType<AuditEvent>(bundle, 'AuditEvent');
    expect(audit).toMatchObject({
      type: { code: 'fhir.export' },
      subtype: [{ system: 'urn:vapi-relay:session', code: call.callId }],
      action: 'R',
      outcome: '0',
      entity: expect.arrayContaining([{ what: { reference: encounterUrl } }]),
    });

    // On the server, references point at what the transaction created.
    const [storedEncounter] = server!.resources.get('Encounter')! as unknown as Encounter[];
    expect(storedEncounter!.subject).toEqual({ reference: `Patient/${server!.resources.get('Patient')![0]!.id}` });
    // The export is in the audit log too, naming records by table and count only.
    expect(await handle.db.select().from(auditEvents).where(eq(auditEvents.action, 'fhir.export'))).toMatchObject([
      { actor: 'system', patientId: ada.id, sessionId: call.callId, source: 'worker', outcome: 'success' },
    ]);
  });

  it('creates nothing twice when the Bundle comes again (the server committed it, its answer was lost)', async () => {
    await completeACall([{ process: true, status: 502 }]);
    await waitFor(delivered, 15_000);

    expect(server!.requests).toHaveLength(2);
    expect(server!.requests[1]!.bundle.entry!.length).toBe(server!.requests[0]!.bundle.entry!.length);
    const counts = Object.fromEntries([...server!.resources].map(([type, held]) => [type, held.length]));
    expect(counts).toEqual({ Patient: 1, Encounter: 1, Communication: 4, DocumentReference: 1, Appointment: 1, AuditEvent: 1 });
    expect((await attempts()).map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 502, 'retry'],
      [2, 200, 'delivered'],
    ]);
  });

  it('retries a server error until the server takes the Bundle', async () => {
    await completeACall([{ status: 503 }, { status: 500 }]);
    await waitFor(delivered, 15_000);
    expect((await attempts()).map((a) => [a.statusCode, a.outcome])).toEqual([
      [503, 'retry'],
      [500, 'retry'],
      [200, 'delivered'],
    ]);
    expect(server!.resources.get('Encounter')).toHaveLength(1);
  });

  it('dead-letters at once a Bundle the server refuses, with its reason and none of the values it echoed; a replay delivers it', async () => {
    await completeACall([{ status: 422, diagnostics: `Patient.birthDate: value "${ada.dateOfBirth}" is not allowed here` }]);
    const queue = openQueue(notificationsQueue, redis, config!.queuePrefix);
    const [failed] = await waitFor(async () => {
      const jobs = await queue.getFailed();
      return jobs.length > 0 && jobs;
    }, 15_000);
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.data).toMatchObject({ channel: 'fhir', endpoint: config!.fhir.baseUrl });
    expect(failed!.failedReason).toBe('Endpoint refused the notification: HTTP 422 (processing: Patient.birthDate: value "…" is not allowed here)');
    expect((await attempts()).map((a) => [a.statusCode, a.outcome, a.error])).toEqual([
      [422, 'permanent', 'HTTP 422 (processing: Patient.birthDate: value "…" is not allowed here)'],
    ]);
    expect(server!.requests).toHaveLength(1);

    // Replayed once the clinic fixed its side, it is delivered, and creates each resource once.
    await failed!.retry('failed', { resetAttemptsMade: true });
    await waitFor(delivered, 15_000);
    expect(Object.fromEntries([...server!.resources].map(([type, held]) => [type, held.length]))).toEqual({
      Patient: 1,
      Encounter: 1,
      Communication: 4,
      DocumentReference: 1,
      Appointment: 1,
      AuditEvent: 1,
    });
    await queue.close();
  });

  it('keeps nothing of the call in clear in Redis or Postgres', async () => {
    const call = await completeACall([{ status: 503 }]);
    await waitFor(delivered, 15_000);
    const { bundle } = server!.requests[0]!;
    const summary = ofType<DocumentReference>(bundle, 'DocumentReference')[0]!.content[0]!.attachment.data!;
    const sent = JSON.stringify(bundle) + Buffer.from(summary, 'base64').toString();
    // Her last name is part of her id (`pat-ada-moreno`), which is kept in clear by design.
    const secrets = [ada.phoneNumber, ada.dateOfBirth, BOOKING_REASON, SUMMARY, ...call.finalTranscripts.map(([, text]) => text)];
    for (const secret of secrets) expect(sent).toContain(secret); // the server got them: so the search below would find them if kept
    const rows: unknown[] = [];
    for (const table of Object.values(schema)) rows.push(...(await handle.db.select().from(table)));
    expectNoPlaintext(rows, secrets);
    expectNoPlaintext([await redisContents(redis, config!.queuePrefix)], secrets);
  });
});
