import type { Job, Queue } from 'bullmq';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { auditPseudonym, recordAudit } from '#shared/audit';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { decryptRow } from '#shared/db/encrypted-columns';
import { auditEvents, schema, vapiSessions } from '#shared/db/schema';
import type { CatalogQueues } from '#shared/plugins/queues';
import { jobSessionId, QUEUE_KEYS } from '#shared/queues/catalog';
import { callBindingKey } from '#shared/relay';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { SEED_PATIENTS } from '../../scripts/seed/clinic-data.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { erasePatient, planErasure } from '../../scripts/patient/erase.ts';
import { cliEnvironment, runScript } from '../helpers/cli.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { fhirProblems } from '../helpers/fhir-validator.ts';
import { jobFor } from '../helpers/jobs.ts';
import { BOOKING_REASON, storePatientCalls } from '../helpers/patient-calls.ts';
import { expectNoPlaintext } from '../helpers/plaintext.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { openClient, streamUrl, tokenFor } from '../relay/relay-harness.ts';

const { handle, redis, track, reset, close } = integrationResources();
const [ada, ben] = SEED_PATIENTS as [(typeof SEED_PATIENTS)[0], (typeof SEED_PATIENTS)[0]];
/** What is Ada's alone among the seeded patients and calls, to look for in every row after her erasure. */
const ADAS = [ada.id, ada.lastName, ada.phoneNumber, ada.dateOfBirth, 'penicillin', 'lisinopril', BOOKING_REASON];

let config: Config;
let cipher: FieldCipher;
let queues: CatalogQueues;
let adaCalls: string[];
let benCalls: string[];

const patientCommand = (...args: string[]) => runScript('patient.ts', args, cliEnvironment(config));

/** Every job of the test's queues that names one of `sessionIds`, in any state. */
async function jobsNaming(sessionIds: string[]) {
  const jobs = await Promise.all(
    QUEUE_KEYS.map((key) => (queues[key] as unknown as Queue).getJobs(['waiting', 'delayed', 'failed', 'completed', 'active', 'prioritized'])),
  );
  return (jobs.flat() as Job[]).filter((job) => job && sessionIds.includes(jobSessionId(job.data as Record<string, unknown>) ?? ''));
}

/** Every row of every table, its encrypted columns decrypted. */
async function everyRowDecrypted() {
  const rows: unknown[] = [];
  for (const table of Object.values(schema)) for (const row of await handle.db.select().from(table)) rows.push(decryptRow(cipher, table, row));
  return rows;
}

/** Row counts of every table and job counts of every queue: what "nothing changed" compares. */
async function everything() {
  const tables = await Promise.all(Object.values(schema).map(async (table) => (await handle.db.select().from(table)).length));
  const jobs = await Promise.all(QUEUE_KEYS.map((key) => (queues[key] as unknown as Queue).getJobCountByTypes('waiting', 'delayed', 'failed', 'completed')));
  return { tables, jobs };
}

beforeEach(async () => {
  await reset(config?.queuePrefix ?? '{none}');
  config = testConfig();
  cipher = new FieldCipher(config.dataEncryptionKeys);
  const [ingress, worker] = track(await buildIngressApp({ config, logger: silentLogger() }), await buildWorkerApp({ config, logger: silentLogger() }));
  await Promise.all([ingress.ready(), worker.ready()]);
  queues = ingress.queues;
  await seedClinic(handle.db, cipher);
  adaCalls = (await storePatientCalls(ingress, handle, ada, 2)).map((call) => call.callId);
  benCalls = (await storePatientCalls(ingress, handle, ben, 1, { book: false })).map((call) => call.callId);
});
afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

describe('npm run patient -- export', () => {
  it('writes everything held about the patient as JSON, decrypted, and records the export without any of it', async () => {
    await recordAudit(handle.db, {
      actor: 'admin',
      action: 'dead-letter.show',
      patientId: ada.id,
      sessionId: adaCalls[0],
      what: ['dead letter events/ev-1'],
      source: '10.0.0.7',
    });
    const { code, stdout } = await patientCommand('export', '--patient', ada.id);
    expect(code).toBe(0);
    const exported = JSON.parse(stdout);
    expect(exported.patient).toMatchObject({
      id: ada.id,
      firstName: ada.firstName,
      lastName: ada.lastName,
      dateOfBirth: ada.dateOfBirth,
      phoneNumber: ada.phoneNumber,
    });
    expect(exported.patient).not.toHaveProperty('phoneHash');
    expect(exported.sessions.map((s: { id: string }) => s.id)).toEqual(adaCalls);
    const [first, second] = exported.sessions;
    expect(first.transcriptSummary).toMatch(/^Call lasted/);
    expect(first.messages.map((m: { transcript: string }) => m.transcript)).toContain('Hi, I would like to move my appointment with Dr. Okafor.');
    expect(first.toolCalls.map((c: { name: string }) => c.name).sort()).toEqual(['get_health_records', 'lookup_order', 'schedule_appointment']);
    expect(first.toolCalls.find((c: { name: string }) => c.name === 'get_health_records')).toMatchObject({
      arguments: { category: 'allergies' },
      result: expect.stringContaining('penicillin'),
    });
    expect(second.toolCalls).toHaveLength(2);
    expect(exported.appointments).toEqual([
      expect.objectContaining({ reason: BOOKING_REASON, provider: expect.stringMatching(/^Dr\./), sessionId: adaCalls[0] }),
    ]);
    expect(exported.healthRecords.map((r: { data: Record<string, unknown> }) => r.data)).toEqual(
      expect.arrayContaining([expect.objectContaining({ substance: 'penicillin' })]),
    );
    expect(exported.healthRecords.find((r: { category: string }) => r.category === 'visits')).toMatchObject({ provider: 'Dr. Amara Okafor' });
    expect(exported.orders.map((o: { description: string }) => o.description).sort()).toEqual(ada.orders.map((o) => o.description).sort());
    expect(exported.notifications.map((n: { sessionId: string; data: object }) => [n.sessionId, typeof n.data])).toEqual(
      expect.arrayContaining(adaCalls.map((id) => [id, 'object'])),
    );
    // The dead letter shown, and the assistant's reads of her records and orders in each call (two tools, two calls).
    expect(exported.auditEvents.filter((a: { action: string }) => a.action !== 'tool.read')).toEqual([
      expect.objectContaining({ action: 'dead-letter.show', what: ['dead letter events/ev-1'] }),
    ]);
    expect(exported.auditEvents.filter((a: { action: string }) => a.action === 'tool.read')).toHaveLength(4);
    expect(stdout).not.toContain(ben.lastName);

    const audit = await handle.db.select().from(auditEvents).orderBy(auditEvents.id);
    expect(audit.at(-1)).toMatchObject({
      actor: 'admin',
      action: 'patient.export',
      patientId: ada.id,
      source: 'cli',
      outcome: 'success',
      what: expect.arrayContaining(['format json', 'vapi_sessions (2)', 'tool_calls (5)']),
    });
    expectNoPlaintext(audit, ADAS.slice(2));
  });

  it('writes a FHIR R4 collection Bundle the validator accepts, every resource of it', async () => {
    const { code, stdout } = await patientCommand('export', '--patient', ada.id, '--format', 'fhir');
    expect(code).toBe(0);
    const bundle = JSON.parse(stdout) as Bundle;
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    expect(fhirProblems(bundle)).toEqual([]);
    const kinds = bundle.entry!.map((entry) => entry.resource!.resourceType);
    const tally = Object.fromEntries([...new Set(kinds)].map((kind) => [kind, kinds.filter((k) => k === kind).length]));
    // AuditEvent: the assistant's reads of her records and orders, two tools in each of two calls.
    expect(tally).toEqual({
      Patient: 1,
      Encounter: 3,
      Communication: 8,
      DocumentReference: 2,
      Appointment: 1,
      AllergyIntolerance: 1,
      MedicationStatement: 1,
      MedicationRequest: 1,
      ServiceRequest: 1,
      AuditEvent: 4,
    });
    expect(bundle.entry![0]!.resource).toMatchObject({
      resourceType: 'Patient',
      name: [{ family: ada.lastName, given: [ada.firstName] }],
      birthDate: ada.dateOfBirth,
    });
  });

  it('refuses a patient of whom nothing is held, with a message', async () => {
    for (const command of ['export', 'erase']) {
      const answer = await patientCommand(command, '--patient', 'pat-nobody', '--yes');
      expect(answer.code).toBe(1);
      expect(answer.stderr).toMatch(/no patient pat-nobody: no patient record and no call of theirs is held/);
    }
  });
});

describe('npm run patient -- erase', () => {
  it('refuses while a call of the patient is going on, which would bring their data back', async () => {
    await handle.db.insert(vapiSessions).values({ id: 'call-live', patientId: ada.id, status: 'in-progress', lastEventAt: new Date() });
    const resources = { db: handle.db, cipher, redis, queues, prefix: config.queuePrefix };
    await expect(planErasure(resources, ada.id)).rejects.toThrow(/call call-live of patient pat-ada-moreno is in progress .*erase once it has ended/);
  });

  it('without --yes says what it would remove and changes nothing', async () => {
    const before = await everything();
    const { code, stdout } = await patientCommand('erase', '--patient', ada.id);
    expect(code).toBe(1);
    expect(stdout).toMatch(/vapi_sessions: 2\n[\s\S]*patients: 1[\s\S]*nothing was changed: run again with --yes/);
    expect(await everything()).toEqual(before);
  });

  it("removes the patient's data from every table and Redis, keeps the audit trail under a pseudonym, and closes their sockets", async () => {
    const [relay] = track(await buildRelayApp({ config, logger: silentLogger() }));
    await relay.listen({ host: '127.0.0.1', port: 0 });
    const [adaSocket, benSocket] = await Promise.all([
      openClient(streamUrl(relay), tokenFor(config, ada.id)),
      openClient(streamUrl(relay), tokenFor(config, ben.id)),
    ]);
    await recordAudit(handle.db, {
      actor: 'patient',
      action: 'history.read',
      patientId: ada.id,
      sessionId: adaCalls[0],
      what: [`messages page of session ${adaCalls[0]}`],
      source: '10.0.0.7',
    });
    const delayed = (callId: string) => {
      const job = jobFor({ message: { type: 'status-update', status: 'ended', timestamp: Date.now(), call: { id: callId } } }, cipher);
      return queues.events.add(job.type, job, { jobId: job.eventId, delay: 3_600_000 });
    };
    await Promise.all([delayed(adaCalls[1]!), delayed(benCalls[0]!)]);
    // A job re-pointed at her call in Redis: the worker dead-letters it as tampered.
    const tampered = jobFor({ message: { type: 'hang', timestamp: Date.now(), call: { id: benCalls[0] } } }, cipher);
    await queues.events.add(tampered.type, { ...tampered, callId: adaCalls[0]! }, { jobId: 'tampered' });
    await waitFor(async () => (await queues.events.getJobState('tampered')) === 'failed');
    expect(await redis.exists(...adaCalls.map((id) => callBindingKey(config.queuePrefix, id)))).toBe(2);
    const states = await Promise.all((await jobsNaming(adaCalls)).map((job) => job.getState()));
    expect(new Set(states)).toEqual(new Set(['completed', 'delayed', 'failed']));

    const resources = { db: handle.db, cipher, redis, queues, prefix: config.queuePrefix };
    const erased = await erasePatient(resources, await planErasure(resources, ada.id), 'cli');
    expect(erased.rows).toMatchObject({
      vapi_sessions: 2,
      vapi_messages: 8,
      tool_calls: 5,
      appointments: 1,
      health_records: 3,
      orders: 2,
      patients: 1,
      audit_events: 5,
    });

    expectNoPlaintext(await everyRowDecrypted(), [...ADAS, ...adaCalls]);
    expect(await redis.exists(...adaCalls.map((id) => callBindingKey(config.queuePrefix, id)))).toBe(0);
    expect(await jobsNaming(adaCalls)).toEqual([]);
    expect((await jobsNaming(benCalls)).length).toBeGreaterThan(0);
    expect(await adaSocket.closed).toBe(1008);
    expect(benSocket.ws.readyState).toBe(benSocket.ws.OPEN);

    const pseudonym = auditPseudonym(cipher, 'patient', ada.id);
    const all = await handle.db.select().from(auditEvents).orderBy(auditEvents.id);
    // The assistant's reads during her calls stay, under the pseudonym too.
    expect(all.filter((row) => row.action === 'tool.read' && row.patientId === pseudonym)).toHaveLength(4);
    const audit = all.filter((row) => row.action !== 'tool.read');
    expect(audit.map(({ actor, action, patientId, source }) => ({ actor, action, patientId, source }))).toEqual([
      { actor: 'patient', action: 'history.read', patientId: pseudonym, source: '10.0.0.7' },
      { actor: 'admin', action: 'patient.erase', patientId: pseudonym, source: 'cli' },
    ]);
    const session = auditPseudonym(cipher, 'session', adaCalls[0]!);
    expect(audit[0]).toMatchObject({ sessionId: session, what: [`messages page of session ${session}`] });
    expect(audit[1]!.what).toEqual(
      expect.arrayContaining(['vapi_sessions (2)', 'vapi_messages (8)', 'patients (1)', 'audit_events named by pseudonym (5)', 'redis call bindings (2)']),
    );

    expect((await patientCommand('export', '--patient', ada.id)).code).toBe(1);
  });
});
