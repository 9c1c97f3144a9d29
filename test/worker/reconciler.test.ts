import { randomBytes, randomUUID } from 'node:crypto';
import { asc, count, eq } from 'drizzle-orm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { notificationOutbox, sessionEvents, vapiEvents, vapiMessages, vapiSessions } from '#shared/db/schema';
import { JobCodec } from '#shared/queues/codec';
import { eventsQueue } from '#shared/queues/events-queue';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { reconcileEventId } from '../../services/worker/lib/reconciler.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { jobFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { integrationResources } from '../helpers/resources.ts';
import { endedCall, startVapiApi, type VapiApi } from '../helpers/vapi-api.ts';
import { waitFor } from '../helpers/wait-for.ts';

const resources = integrationResources();
const { handle, redis } = resources;
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const API_KEY = 'vapi-private-key-for-tests';

let config: Config;
let api: VapiApi;
let receiver: Receiver;
let cipher: FieldCipher;

afterEach(async () => {
  await resources.reset(config.queuePrefix);
  await api.close();
  await receiver.close();
});
afterAll(() => resources.close());

/** Workers that reconcile after `afterS`, asking the stand-in API (with a key unless told otherwise), notifying a receiver. */
async function startWorkers({ key = true, afterS = '0.3', workers = 1, timeoutMs = 2_000 } = {}) {
  api = await startVapiApi();
  receiver = await startReceiver();
  config = testConfig({
    RECONCILE_AFTER_S: afterS,
    VAPI_API_URL: api.url,
    ...(key ? { VAPI_API_KEY: API_KEY } : {}),
    NOTIFY_WEBHOOK_URL: receiver.url,
    NOTIFY_WEBHOOK_SECRET: secret,
  });
  cipher = new FieldCipher(config.dataEncryptionKeys);
  for (let i = 0; i < workers; i += 1) {
    const app = await buildWorkerApp({ config, logger: silentLogger(), reconcileTuning: { timeoutMs, minRetryMs: 20 } });
    resources.track(app);
    await app.ready();
  }
  const queue = openQueue(eventsQueue, redis, config.queuePrefix);
  return {
    queue,
    /** Stores one webhook body the way the ingress enqueues it, and waits until it is in the event log. */
    async send(body: unknown) {
      const job = jobFor(body, cipher);
      await queue.add(job.type, job, { jobId: job.eventId });
      await waitFor(async () => (await handle.db.select({ id: vapiEvents.id }).from(vapiEvents).where(eq(vapiEvents.id, job.eventId))).length > 0);
    },
  };
}

const call = (id: string, patientId: string) => ({ id, type: 'inboundPhoneCall', customer: { number: '+15550100001' }, metadata: { patientId } });

/** A call that started and said one thing, then went silent: no end, no report. */
async function silentCall(send: (body: unknown) => Promise<void>, id: string = randomUUID(), patientId: string = randomUUID()) {
  await send({ message: { type: 'status-update', status: 'in-progress', timestamp: Date.now(), call: call(id, patientId) } });
  await send({
    message: { type: 'transcript', role: 'user', transcriptType: 'final', transcript: 'Hello?', timestamp: Date.now(), call: call(id, patientId) },
  });
  return { id, patientId };
}

const sessionOf = async (id: string) => (await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, id)))[0]!;

/** The relay events of a session, opened. */
async function relayOf(id: string) {
  const rows = await handle.db.select().from(sessionEvents).where(eq(sessionEvents.sessionId, id)).orderBy(asc(sessionEvents.seq));
  return rows.map((row) => ({ type: row.type, seq: row.seq, data: cipher.decryptJson<Record<string, unknown>>(row.data) }));
}

const notificationsFor = async (id: string) =>
  (await handle.db.select({ n: count() }).from(notificationOutbox).where(eq(notificationOutbox.sessionId, id)))[0]!.n;

/** Notifications the receiver got for a session, parsed. */
const deliveredFor = (id: string) =>
  receiver.received.map((r) => JSON.parse(r.body) as { type: string; sessionId: string; data: Record<string, unknown> }).filter((n) => n.sessionId === id);

/** Waits until the session's end was announced, and returns the session, its relay events and its one notification. */
async function reconciledOf(id: string, timeoutMs = 5_000) {
  const session = await waitFor(async () => {
    const row = await sessionOf(id);
    return row.metadata.reconciled !== undefined && row;
  }, timeoutMs);
  const [delivered] = await waitFor(() => deliveredFor(id).length > 0 && deliveredFor(id), timeoutMs);
  return { session, relay: await relayOf(id), delivered: delivered! };
}

describe('reconciling calls whose report never came', () => {
  it('completes a silent call from GET /call: transcript, summary, ended reason, times and cost stored; session_end and one notification', async () => {
    const { send } = await startWorkers();
    const id = randomUUID();
    const patientId = randomUUID();
    api.answer(id, { status: 200, body: endedCall(id, { patientId }) });
    await silentCall(send, id, patientId);

    const { session, relay, delivered } = await reconciledOf(id);
    expect(api.requests.filter((r) => r.callId === id)).toEqual([expect.objectContaining({ authorization: `Bearer ${API_KEY}` })]);
    expect(session).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call', cost: '0.1234', patientId });
    expect(session.metadata).toMatchObject({ reconciled: 'vapi-api' });
    expect(session.endedAt?.toISOString()).toBe('2026-11-20T15:01:05.000Z');
    expect(cipher.decrypt(session.transcriptSummary!)).toContain('Summary: The patient booked a check-up for Tuesday at 10.');
    expect(cipher.decrypt(session.transcriptSummary!)).toContain('Ended: customer-ended-call.');
    // The live transcript was stored, so the artifact's conversation is not stored a second time.
    const messages = await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, id));
    expect(messages.map((m) => cipher.decrypt(m.transcript))).toEqual(['Hello?']);

    const ends = relay.filter((e) => e.type === 'session_end');
    expect(ends).toHaveLength(1);
    expect(ends[0]!.data).toMatchObject({ sessionId: id, status: 'ended', endedReason: 'customer-ended-call', reconciled: 'vapi-api' });
    expect(delivered).toMatchObject({ type: 'session.ended', patientId, data: { reconciled: 'vapi-api', endedReason: 'customer-ended-call' } });
    expect(await notificationsFor(id)).toBe(1);
  });

  it("stores the artifact's conversation as the transcript when nothing was stored during the call", async () => {
    const { send } = await startWorkers();
    const id = randomUUID();
    api.answer(id, { status: 200, body: endedCall(id) });
    await send({ message: { type: 'status-update', status: 'in-progress', timestamp: Date.now(), call: call(id, randomUUID()) } });

    await reconciledOf(id);
    const messages = await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, id)).orderBy(asc(vapiMessages.timestamp));
    expect(messages.map((m) => [m.role, cipher.decrypt(m.transcript)])).toEqual([
      ['assistant', 'Hello, Riverside Clinic.'],
      ['user', 'I would like a check-up on Tuesday.'],
      ['assistant', 'Booked for Tuesday at 10.'],
    ]);
  });

  it('ends a call Vapi has no record of (404) as report-missing', async () => {
    const { send } = await startWorkers();
    const { id } = await silentCall(send);

    const { session, relay, delivered } = await reconciledOf(id);
    expect(api.requests.filter((r) => r.callId === id)).toHaveLength(1);
    expect(session).toMatchObject({ status: 'ended', endedReason: 'report-missing' });
    expect(session.metadata).toMatchObject({ reconciled: 'timeout' });
    expect(relay.filter((e) => e.type === 'session_end').map((e) => e.data)).toEqual([
      expect.objectContaining({ endedReason: 'report-missing', reconciled: 'timeout' }),
    ]);
    expect(delivered).toMatchObject({ type: 'session.ended', data: { endedReason: 'report-missing', reconciled: 'timeout' } });
  });

  it('ends a silent call as report-missing without asking anyone when no API key is set', async () => {
    const { send } = await startWorkers({ key: false });
    const { id } = await silentCall(send);

    const { session, delivered } = await reconciledOf(id);
    expect(api.requests).toHaveLength(0);
    expect(session).toMatchObject({ status: 'ended', endedReason: 'report-missing', metadata: expect.objectContaining({ reconciled: 'timeout' }) });
    expect(delivered.data).toMatchObject({ reconciled: 'timeout' });
  });

  it('asks again after a 429, no sooner than its Retry-After, and completes the call', async () => {
    const { send } = await startWorkers();
    const id = randomUUID();
    api.answer(id, { status: 429, headers: { 'retry-after': '1' }, body: { message: 'Too Many Requests' } }, { status: 200, body: endedCall(id) });
    await silentCall(send, id);

    const { session } = await reconciledOf(id);
    const asked = api.requests.filter((r) => r.callId === id);
    expect(asked).toHaveLength(2);
    expect(asked[1]!.at - asked[0]!.at).toBeGreaterThanOrEqual(1_000);
    expect(session).toMatchObject({ status: 'completed', metadata: expect.objectContaining({ reconciled: 'vapi-api' }) });
  });

  it('gives up on a request that hangs after its timeout, asks again, and completes the call', async () => {
    const { send } = await startWorkers({ timeoutMs: 300 });
    const id = randomUUID();
    api.answer(id, 'hang', { status: 503 }, { status: 200, body: endedCall(id) });
    await silentCall(send, id);

    const { session } = await reconciledOf(id);
    const asked = api.requests.filter((r) => r.callId === id);
    expect(asked).toHaveLength(3);
    expect(asked[1]!.at - asked[0]!.at).toBeGreaterThanOrEqual(300);
    expect(session).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call' });
  });

  it('leaves a call Vapi says is still going', async () => {
    const { send } = await startWorkers();
    const id = randomUUID();
    api.answer(id, { status: 200, body: { ...endedCall(id), status: 'in-progress', endedReason: undefined, endedAt: undefined } });
    await silentCall(send, id);

    await waitFor(() => api.requests.some((r) => r.callId === id));
    // The claim keeps it from being asked again at once; asked once, it is as it was.
    await waitFor(async () => (await sessionOf(id)).metadata.reconcileClaimedAt !== undefined);
    expect(await sessionOf(id)).toMatchObject({ status: 'in-progress', endedReason: null });
    expect((await sessionOf(id)).metadata.reconciled).toBeUndefined();
  });

  it("applies Vapi's report arriving after a report-missing once: the session completes, nobody is told twice", async () => {
    const { send } = await startWorkers();
    const { id, patientId } = await silentCall(send);
    await reconciledOf(id);

    const { artifact, analysis, startedAt, endedAt, cost } = endedCall(id, { patientId });
    const report = {
      message: {
        type: 'end-of-call-report',
        timestamp: Date.now(),
        call: call(id, patientId),
        endedReason: 'customer-ended-call',
        artifact,
        analysis,
        startedAt,
        endedAt,
        cost,
      },
    };
    await send(report);
    const completed = await sessionOf(id);
    expect(completed).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call', cost: '0.1234' });
    expect(completed.metadata).toMatchObject({ reconciled: 'timeout', lateReport: expect.any(String) });
    expect(cipher.decrypt(completed.transcriptSummary!)).toContain('Summary: The patient booked a check-up');

    // Redelivered, and followed by a story call-end: both find the end announced and applied.
    await send({ ...report, message: { ...report.message, timestamp: Date.now() + 1 } });
    await send({ type: 'call-end', data: { sessionId: id, summary: 'Something else.', endedReason: 'assistant-ended-call' } });
    expect(cipher.decrypt((await sessionOf(id)).transcriptSummary!)).toContain('Summary: The patient booked a check-up');
    const relay = await relayOf(id);
    expect(relay.filter((e) => e.type === 'session_end')).toHaveLength(1);
    expect(relay.filter((e) => e.type === 'session_status').map((e) => e.data.status)).toEqual(['in-progress', 'ended', 'completed']);
    expect(await notificationsFor(id)).toBe(1);
  });

  it('does not reconcile a call whose report came: a report racing the sweep is applied, the reconciliation is not', async () => {
    const { send, queue } = await startWorkers({ afterS: '3600' });
    const { id, patientId } = await silentCall(send);
    const { artifact, analysis } = endedCall(id, { patientId });
    await send({
      message: { type: 'end-of-call-report', timestamp: Date.now(), call: call(id, patientId), endedReason: 'customer-ended-call', artifact, analysis },
    });
    // The reconciliation as a sweep that claimed the session just before the report would hand it over.
    const meta = {
      eventId: reconcileEventId(id),
      type: 'end-of-call-report',
      callId: id,
      source: 'reconcile' as const,
      receivedAt: new Date().toISOString(),
      requestId: 'reconcile',
    };
    const late = { message: { type: 'end-of-call-report', timestamp: Date.now(), reconciled: 'timeout', call: { id }, endedReason: 'report-missing' } };
    await queue.add(meta.type, new JobCodec(cipher).seal(eventsQueue, meta, JSON.stringify(late)), { jobId: meta.eventId });
    await waitFor(async () => (await handle.db.select().from(vapiEvents).where(eq(vapiEvents.id, meta.eventId))).length > 0);

    const session = await sessionOf(id);
    expect(session).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call' });
    expect(session.metadata.reconciled).toBeUndefined();
    expect((await relayOf(id)).filter((e) => e.type === 'session_end')).toHaveLength(1);
    expect(await notificationsFor(id)).toBe(1);
  });

  it("believes a report's reconciled mark only from the reconciler, never from a webhook's body", async () => {
    const { send } = await startWorkers({ afterS: '3600' });
    const { id } = await silentCall(send);
    await send({ message: { type: 'end-of-call-report', timestamp: Date.now(), reconciled: 'timeout', call: { id }, endedReason: 'customer-ended-call' } });
    const session = await sessionOf(id);
    expect(session).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call' });
    expect(session.metadata.reconciled).toBeUndefined();
  });

  it('two workers sweeping side by side reconcile each session once', async () => {
    // A timeout long enough that a loaded machine never retries a request: each one asked is one claim.
    const { send } = await startWorkers({ workers: 2, afterS: '0.5', timeoutMs: 10_000 });
    const ids: string[] = Array.from({ length: 25 }, () => randomUUID());
    for (const id of ids) api.answer(id, { status: 200, body: endedCall(id) });
    // More silent sessions than one worker holds in flight (10): both workers claim, neither twice.
    await Promise.all(ids.map((id) => silentCall(send, id)));

    await waitFor(async () => {
      const rows = await handle.db.select({ id: vapiSessions.id, status: vapiSessions.status }).from(vapiSessions);
      return rows.filter((row) => ids.includes(row.id) && row.status === 'completed').length === ids.length;
    }, 15_000);
    await waitFor(() => ids.every((id) => deliveredFor(id).length > 0), 10_000);
    for (const id of ids) {
      expect(api.requests.filter((r) => r.callId === id)).toHaveLength(1);
      expect((await relayOf(id)).filter((e) => e.type === 'session_end')).toHaveLength(1);
      expect(await notificationsFor(id)).toBe(1);
    }
  });

  it('keeps storing events while a sweep waits on an API that hangs', async () => {
    const { send } = await startWorkers({ timeoutMs: 10_000, afterS: '0.3' });
    const silent = Array.from({ length: 10 }, () => randomUUID());
    for (const id of silent) api.answer(id, 'hang');
    await Promise.all(silent.map((id) => silentCall(send, id)));
    await waitFor(() => api.hanging() === silent.length, 5_000);

    const live = randomUUID();
    const patientId = randomUUID();
    for (let i = 0; i < 40; i += 1) {
      const words = { type: 'transcript', role: i % 2 ? 'user' : 'assistant', transcriptType: 'final', transcript: `Line ${i}`, timestamp: Date.now() + i };
      await send({ message: { ...words, call: call(live, patientId) } });
    }
    // Every event stored, one after another, while all ten requests are still held (none has reached its 10 s timeout).
    expect(api.hanging()).toBe(silent.length);
    expect(api.requests).toHaveLength(silent.length);
    expect(await handle.db.select({ n: count() }).from(vapiMessages).where(eq(vapiMessages.sessionId, live))).toEqual([{ n: 40 }]);
  });
});
