import { randomBytes, randomUUID } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { notificationOutbox, patients, sessionEvents, vapiEvents, vapiMessages, vapiSessions } from '#shared/db/schema';
import { createEventProcessor } from '../../services/worker/lib/event-processor.ts';
import { testConfig } from '../helpers/config.ts';
import { storeFor } from '../helpers/jobs.ts';
import { integrationResources } from '../helpers/resources.ts';
import { realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';

const { handle, reset, close } = integrationResources();
const { db } = handle;
const config = testConfig();
const cipher = new FieldCipher(config.dataEncryptionKeys);
let kicks = 0;
const processEvent = createEventProcessor({ db, cipher, onCommit: () => kicks++ });
const processBody = (body: unknown) => processEvent(storeFor(body, cipher));

const session = async (id: string) => (await db.select().from(vapiSessions).where(eq(vapiSessions.id, id)))[0];
const messages = (sessionId: string) => db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, sessionId)).orderBy(asc(vapiMessages.timestamp));
const outbox = (sessionId: string) => db.select().from(sessionEvents).where(eq(sessionEvents.sessionId, sessionId)).orderBy(asc(sessionEvents.seq));

async function addPatient(id: string, phone: string) {
  await db.insert(patients).values({
    id,
    firstName: cipher.encrypt('Ada'),
    lastName: cipher.encrypt('Moreno'),
    dateOfBirth: cipher.encrypt('1984-03-03'),
    phoneNumber: cipher.encrypt(phone),
    phoneHash: cipher.lookupHash(phone),
    nameDobHash: cipher.lookupHash('ada moreno|1984-03-03'),
  });
}

beforeEach(async () => {
  await reset(config.queuePrefix);
  kicks = 0;
});
afterAll(close);

describe('the story envelope', () => {
  it('stores one vapi_messages row for a message event, encrypted', async () => {
    const sessionId = randomUUID();
    const outcome = await processBody({
      type: 'message',
      data: { sessionId, role: 'user', content: 'I need to refill my lisinopril.', timestamp: '2026-11-20T15:00:00.000Z' },
    });
    expect(outcome).toBe('processed');
    const rows = await messages(sessionId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.role).toBe('user');
    expect(rows[0]!.transcript).not.toContain('lisinopril');
    expect(cipher.decrypt(rows[0]!.transcript)).toBe('I need to refill my lisinopril.');
    expect(rows[0]!.timestamp.toISOString()).toBe('2026-11-20T15:00:00.000Z');
  });

  it.each([
    [{ message: { role: 'user', content: 'Nested.' } }, 'user', 'Nested.'],
    [{ role: 'bot', transcript: 'Bot says.' }, 'assistant', 'Bot says.'],
    [{ message: 'No role given.' }, 'assistant', 'No role given.'],
    [{ role: 'agent', text: 'Unknown role.' }, 'system', 'Unknown role.'],
  ])('reads the utterance of %j', async (fields, role, text) => {
    const sessionId = randomUUID();
    await processBody({ type: 'message', data: { sessionId, ...fields } });
    const rows = await messages(sessionId);
    expect(rows.map((m) => [m.role, cipher.decrypt(m.transcript)])).toEqual([[role, text]]);
  });

  it('completes the session on call-end with a summary of what was stored', async () => {
    const sessionId = randomUUID();
    await processBody({ type: 'message', data: { sessionId, role: 'assistant', content: 'Hello.', timestamp: 1795000000000 } });
    await processBody({ type: 'message', data: { sessionId, role: 'user', content: 'Hi.', timestamp: 1795000001000 } });
    await processBody({ type: 'call-end', data: { sessionId, timestamp: 1795000060000, summary: 'Greetings only.' } });
    const row = await session(sessionId);
    expect(row!.status).toBe('completed');
    expect(row!.endedAt!.getTime()).toBe(1795000060000);
    expect(row!.keyInsights).toMatchObject({ turns: { user: 1, assistant: 1, system: 0 } });
    expect(cipher.decrypt(row!.transcriptSummary!)).toContain('Greetings only.');
  });

  it('keeps a free-text end reason out of the plaintext columns', async () => {
    const sessionId = randomUUID();
    await processBody({ type: 'call-end', data: { sessionId, reason: 'Patient said her chest pain is back', timestamp: 1795000060000 } });
    const row = await session(sessionId);
    expect(row!.endedReason).toBeNull();
    expect(JSON.stringify(row!.keyInsights)).not.toContain('chest');
  });

  it('keeps a prose success evaluation in the encrypted analysis only', async () => {
    const call = realisticCall();
    const analysis = call.report.message.analysis as Record<string, unknown>;
    analysis.successEvaluation = 'Partly: the patient could not confirm her insulin dose';
    await processBody(call.report);
    const row = await session(call.callId);
    expect(row!.keyInsights).not.toHaveProperty('successEvaluation');
    expect(cipher.decryptJson(row!.analysis!)).toMatchObject({ successEvaluation: analysis.successEvaluation });
  });
});

describe('a whole realistic call', () => {
  it('ends completed with the right counts, summary and times', async () => {
    const call = realisticCall({ customerNumber: '+15550109999' });
    for (const body of call.events) await processBody(body);

    const row = await session(call.callId);
    expect(row).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call', callType: 'inboundPhoneCall', patientId: null });
    expect(row!.startedAt).not.toBeNull();
    expect(row!.endedAt!.getTime()).toBe(call.endedAtMs);
    expect(row!.cost).toBe('0.1234');
    expect(row!.keyInsights).toMatchObject({
      turns: { user: 2, assistant: 2, system: 0 },
      toolsUsed: ['lookup_patient_info'],
      endedReason: 'customer-ended-call',
      successEvaluation: 'true',
    });
    const summary = cipher.decrypt(row!.transcriptSummary!);
    expect(summary).toContain('2 patient turns, 2 assistant turns');
    expect(summary).toContain('Tools used: lookup_patient_info');
    expect(summary).toContain('Dr. Okafor');
    expect(cipher.decrypt(row!.recordingUrl!)).toBe('https://storage.example/recordings/stereo.wav');

    // Finals are stored in order; partials are not.
    const stored = await messages(call.callId);
    expect(stored.map((m) => [m.role, cipher.decrypt(m.transcript)])).toEqual(call.finalTranscripts);

    // Outbox: seq 1..n without holes, in the order things happened.
    const relay = await outbox(call.callId);
    expect(relay.map((e) => e.seq)).toEqual(relay.map((_, i) => i + 1));
    expect(relay.filter((e) => e.type === 'session_status').map((e) => cipher.decryptJson<{ status: string }>(e.data).status)).toEqual([
      'ringing',
      'in-progress',
      'ended',
      'completed',
    ]);
    expect(relay.at(-1)!.type).toBe('session_end');
    expect(cipher.decryptJson(relay.at(-1)!.data)).toMatchObject({ sessionId: call.callId, status: 'ended' });

    // Every durable event is in the event log, with its payload encrypted; live-only ones are in no table.
    const logged = await db.select().from(vapiEvents).where(eq(vapiEvents.sessionId, call.callId));
    const liveOnly = call.events.filter((b) => b.message.type === 'speech-update' || b.message.transcriptType === 'partial').length;
    expect(logged).toHaveLength(call.events.length - liveOnly);
    expect(logged.every((e) => e.payload?.startsWith('v1.') && !e.payload.includes('Okafor'))).toBe(true);
  });

  it('processes each event once when everything is delivered twice', async () => {
    const call = realisticCall();
    for (const body of call.events) await processBody(body);
    const before = { messages: (await messages(call.callId)).length, outbox: (await outbox(call.callId)).length, row: await session(call.callId) };

    const outcomes = [];
    for (const body of call.events) outcomes.push(await processBody(body));
    expect(outcomes.filter((o) => o === 'processed')).toEqual([]);
    expect((await messages(call.callId)).length).toBe(before.messages);
    expect((await outbox(call.callId)).length).toBe(before.outbox);
    expect((await session(call.callId))!.updatedAt).toEqual(before.row!.updatedAt);
  });

  it('reaches the same state whatever the order of arrival, and never moves status backwards', async () => {
    const call = realisticCall();
    const shuffled = [...call.events].reverse();
    const seen: string[] = [];
    for (const body of shuffled) {
      await processBody(body);
      seen.push((await session(call.callId))!.status);
    }
    expect(seen.every((status) => status === 'completed')).toBe(true);
    const row = await session(call.callId);
    expect(row!.keyInsights).toMatchObject({ turns: { user: 2, assistant: 2 } });
    expect((await messages(call.callId)).map((m) => cipher.decrypt(m.transcript))).toEqual(call.finalTranscripts.map(([, t]) => t));
    const relay = await outbox(call.callId);
    expect(relay.map((e) => e.seq)).toEqual(relay.map((_, i) => i + 1));
  });

  it('keeps ended when in-progress arrives after it, and still learns the start time', async () => {
    const callId = randomUUID();
    const call = { id: callId, orgId: 'org' };
    await processBody({ message: { type: 'status-update', status: 'ended', endedReason: 'silence-timed-out', timestamp: 1795000090000, call } });
    await processBody({ message: { type: 'status-update', status: 'in-progress', timestamp: 1795000000000, call } });
    await processBody({ message: { type: 'status-update', status: 'queued', timestamp: '2026-11-20T15:00:00.000Z', call } });
    const row = await session(callId);
    expect(row).toMatchObject({ status: 'ended', endedReason: 'silence-timed-out' });
    expect(row!.startedAt!.getTime()).toBe(1795000000000);
    expect(row!.endedAt!.getTime()).toBe(1795000090000);
  });

  it('gives concurrent events of one call distinct, gap-free seq numbers', async () => {
    const callId = randomUUID();
    const call = { id: callId, orgId: 'org' };
    const bodies: VapiBody[] = Array.from({ length: 20 }, (_, i) => ({
      message: { type: 'transcript', transcriptType: 'final', role: i % 2 ? 'user' : 'assistant', transcript: `line ${i}`, timestamp: 1795000000000 + i, call },
    }));
    await Promise.all(bodies.map(processBody));
    const relay = await outbox(callId);
    expect(relay.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await session(callId))!.lastSeq).toBe(20);
  });
});

describe('input that cannot be stored as given', () => {
  it('completes a call whose cost would round past what the column holds, keeping the cost in the raw payload only', async () => {
    const call = realisticCall();
    (call.report.message as Record<string, unknown>).cost = 99_999_999.99999;
    expect(await processBody(call.report)).toBe('processed');
    expect(await session(call.callId)).toMatchObject({ status: 'completed', cost: null });
  });

  it('stores an artifact of 12,000 messages, past what one statement may bind as parameters, and completes the call', async () => {
    const call = realisticCall();
    const artifact = call.report.message.artifact as { messages: unknown[] };
    artifact.messages = Array.from({ length: 12_000 }, (_, i) => ({ role: i % 2 ? 'user' : 'bot', message: `line ${i}`, time: call.startMs + i }));
    expect(await processBody(call.report)).toBe('processed');
    expect(await messages(call.callId)).toHaveLength(12_000);
    expect((await session(call.callId))!.keyInsights).toMatchObject({ turns: { user: 6_000, assistant: 6_000 } });
  });

  it("takes an older report's conversation from its top-level messages when its artifact is empty", async () => {
    const call = realisticCall();
    const artifact = call.report.message.artifact as { messages: unknown[] };
    call.report.message.messages = artifact.messages;
    artifact.messages = [];
    await processBody(call.report);
    expect((await messages(call.callId)).map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'user']);
  });
});

describe('the end-of-call report alone', () => {
  it('backfills the transcript from its artifact when no transcript event arrived', async () => {
    const call = realisticCall();
    await processBody(call.report);
    const stored = await messages(call.callId);
    expect(stored.map((m) => [m.role, cipher.decrypt(m.transcript)])).toEqual(call.finalTranscripts);
    expect(stored[0]!.metadata).toEqual({ source: 'end-of-call-report' });
  });

  it('reads the legacy flat layout', async () => {
    const callId = randomUUID();
    await processBody({
      message: {
        type: 'end-of-call-report',
        timestamp: '2024-07-04T05:39:10.225Z',
        call: { id: callId, orgId: 'org' },
        endedReason: 'assistant-ended-call',
        summary: 'Patient confirmed the appointment.',
        recordingUrl: 'https://storage.example/r.wav',
        durationSeconds: 95,
      },
    });
    const row = await session(callId);
    expect(row!.status).toBe('completed');
    expect(cipher.decrypt(row!.transcriptSummary!)).toContain('Call lasted 1 min 35 s');
    expect(cipher.decrypt(row!.transcriptSummary!)).toContain('Patient confirmed the appointment.');
    expect(cipher.decrypt(row!.recordingUrl!)).toBe('https://storage.example/r.wav');
  });
});

describe('patients', () => {
  it('binds and verifies the patient named by call.metadata.patientId', async () => {
    await addPatient('pat-1', '+15550100001');
    const call = realisticCall({ patientId: 'pat-1', customerNumber: '+15550177777' });
    await processBody(call.events[0]);
    expect(await session(call.callId)).toMatchObject({ patientId: 'pat-1', patientVerified: true });
  });

  it("binds without verifying the patient whose phone is the caller's", async () => {
    await addPatient('pat-2', '+15550100002');
    const call = realisticCall({ customerNumber: '+15550100002' });
    await processBody(call.events[0]);
    expect(await session(call.callId)).toMatchObject({ patientId: 'pat-2', patientVerified: false });
  });

  it('binds the patient when a later event of the call brings the identity the first one lacked', async () => {
    await addPatient('pat-4', '+15550100005');
    const call = realisticCall({ patientId: 'pat-4' });
    await processBody({ type: 'message', data: { sessionId: call.callId, role: 'user', content: 'Hi.', timestamp: call.startMs } });
    expect(await session(call.callId)).toMatchObject({ patientId: null });
    await processBody(call.events[0]);
    expect(await session(call.callId)).toMatchObject({ patientId: 'pat-4', patientVerified: true });
  });

  it("trusts our app's patient id even when the patients table does not hold that patient", async () => {
    const call = realisticCall({ patientId: 'pat-from-the-app', customerNumber: '+15550100003' });
    await processBody(call.events[0]);
    expect(await session(call.callId)).toMatchObject({ patientId: 'pat-from-the-app', patientVerified: true });
  });

  it('records an unknown caller with no patient', async () => {
    const call = realisticCall({ customerNumber: '+15550100003' });
    await processBody(call.events[0]);
    const row = await session(call.callId);
    expect(row).toMatchObject({ patientId: null, patientVerified: false });
    expect(row!.callerHash).not.toContain('5550100003');
  });

  it('leaves relay events and the end notification in the outbox for the dispatcher, and says so after commit', async () => {
    await addPatient('pat-3', '+15550100004');
    const call = realisticCall({ patientId: 'pat-3' });
    for (const body of call.events) await processBody(body);
    const relay = await outbox(call.callId);
    expect(relay.map((e) => e.seq)).toEqual(relay.map((_, i) => i + 1));
    expect(relay.every((e) => e.dispatchedAt === null)).toBe(true);
    expect(relay.map((e) => e.type)).toContain('session_end');
    const [notification] = await db.select().from(notificationOutbox).where(eq(notificationOutbox.sessionId, call.callId));
    expect(notification).toMatchObject({ type: 'session.ended', patientId: 'pat-3', dispatchedAt: null });
    expect(cipher.decryptJson(notification!.data)).toMatchObject({ sessionId: call.callId, status: 'ended' });
    expect(kicks).toBeGreaterThan(0);
  });
});

describe('encryption at rest', () => {
  it('leaves no plaintext in any column, and rows written under an old key read after rotation', async () => {
    const call = realisticCall();
    for (const body of call.events) await processBody(body);
    const dump = JSON.stringify(
      await handle.sql`select s.*, m.*, e.*, o.* from vapi_sessions s
        join vapi_messages m on m.session_id = s.id
        join vapi_events e on e.session_id = s.id
        join session_events o on o.session_id = s.id
        where s.id = ${call.callId}`,
    );
    for (const secret of ['Okafor', 'date of birth', 'stereo.wav', '5550100001']) expect(dump).not.toContain(secret);

    const rotated = new FieldCipher([randomBytes(32), ...testConfig().dataEncryptionKeys]);
    const [first] = await messages(call.callId);
    expect(rotated.decrypt(first!.transcript)).toBe(call.finalTranscripts[0]![1]);
    expect(rotated.decrypt((await session(call.callId))!.transcriptSummary!)).toContain('Dr. Okafor');
  });
});

describe('odd input', () => {
  it('records unknown event types without failing', async () => {
    const callId = randomUUID();
    const outcome = await processBody({ message: { type: 'language-change-detected', language: 'es', timestamp: 1795000000000, call: { id: callId } } });
    expect(outcome).toBe('processed');
    const [logged] = await db.select().from(vapiEvents).where(eq(vapiEvents.sessionId, callId));
    expect(logged!.type).toBe('language-change-detected');
  });

  it('stores events whose values Postgres could not hold, without them', async () => {
    const callId = randomUUID();
    const call = { id: callId, orgId: 'org', type: 'inbound\u0000PhoneCall', startedAt: '-000100-01-01T00:00:00Z' };
    await processBody({ message: { type: 'status-update', status: 'in-progress', timestamp: 253402300800000, call } });
    await processBody({
      message: {
        type: 'end-of-call-report',
        timestamp: 1.795e15,
        call,
        endedReason: 'customer-ended-call\u0000',
        cost: 1e9,
        analysis: { summary: 'ok', successEvaluation: { toString: 1 } },
      },
    });
    const row = await session(callId);
    expect(row).toMatchObject({ status: 'completed', callType: 'inboundPhoneCall', endedReason: 'customer-ended-call', cost: null });
    // Unreadable times fall back to when the event was received.
    expect(Math.abs(row!.startedAt!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(row!.keyInsights).not.toHaveProperty('successEvaluation');
  });

  it('completes a call whose report names a tool with a lone surrogate (jsonb refuses the escape)', async () => {
    const call = realisticCall();
    const artifact = call.report.message.artifact as { messages: unknown[] };
    artifact.messages.push({
      role: 'tool_calls',
      message: '',
      time: call.startMs,
      toolCalls: [{ id: 't', type: 'function', function: { name: 'look\ud800up', arguments: '{}' } }],
    });
    await processBody(call.report);
    const row = await session(call.callId);
    expect(row!.status).toBe('completed');
    expect(row!.keyInsights).toMatchObject({ toolsUsed: expect.arrayContaining(['look\ufffdup']) });
  });

  it('keeps the assistant prompt out of a backfilled transcript and its turns', async () => {
    const call = realisticCall();
    const artifact = call.report.message.artifact as { messages: unknown[] };
    artifact.messages.unshift({ role: 'system', message: 'You are the front desk of Riverside Clinic.', time: call.startMs });
    await processBody(call.report);
    expect((await messages(call.callId)).map((m) => m.role)).not.toContain('system');
    expect((await session(call.callId))!.keyInsights).toMatchObject({ turns: { system: 0, user: 2, assistant: 2 } });
  });

  it('fails an event it cannot read without retrying it', async () => {
    const job = storeFor({ message: { type: 'hang', call: { id: 'x' } } }, cipher);
    await expect(processEvent({ ...job, body: 'not json' })).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(processEvent({ ...job, body: '{"no":"type"}' })).rejects.toBeInstanceOf(UnrecoverableError);
  });
});
