import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { auditEvents, notificationAttempts, notificationOutbox, sessionEvents, toolCalls, vapiEvents, vapiMessages, vapiSessions } from '#shared/db/schema';
import { eventsQueue } from '#shared/queues/events-queue';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { createEventProcessor } from '../../services/worker/lib/event-processor.ts';
import { createRetentionSweeper, type RetentionPeriods, type RetentionTable } from '../../services/worker/lib/retention.ts';
import { isLiveOnlyBody, realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { jobFor, storeFor } from '../helpers/jobs.ts';
import { expectNoPlaintext } from '../helpers/plaintext.ts';
import { openQueue } from '../helpers/queues.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const resources = integrationResources();
const { handle, redis, track } = resources;
const { db } = handle;
const config = testConfig();
const cipher = new FieldCipher(config.dataEncryptionKeys);
const store = createEventProcessor({ db, cipher, onCommit: () => {} });

afterEach(() => resources.reset(config.queuePrefix));
afterAll(() => resources.close());

type Call = ReturnType<typeof realisticCall>;
const ended = (body: Call['events'][number]) =>
  body.message.type === 'end-of-call-report' || (body.message.type === 'status-update' && body.message.status === 'ended');

/** A call stored by the event processor, its relay events dispatched, a delivery attempt per notification, a tool call. */
async function storeCall(patientId: string, { running = false } = {}): Promise<Call> {
  const call = realisticCall({ patientId, startMs: Date.now() - 60_000 });
  for (const body of call.events.filter((b) => !running || !ended(b))) await store(storeFor(body, cipher));
  await db.update(sessionEvents).set({ dispatchedAt: new Date() }).where(eq(sessionEvents.sessionId, call.callId));
  // A running call has none of these yet; one is made for it, so the test can see it left alone.
  if (running)
    await db
      .insert(notificationOutbox)
      .values({ sessionId: call.callId, patientId, type: 'session.error', occurredAt: new Date(), data: cipher.encryptJson({}) });
  await db.update(notificationOutbox).set({ dispatchedAt: new Date() }).where(eq(notificationOutbox.sessionId, call.callId));
  const outbox = await db.select({ id: notificationOutbox.id }).from(notificationOutbox).where(eq(notificationOutbox.sessionId, call.callId));
  expect(outbox.length).toBeGreaterThan(0);
  await db.insert(notificationAttempts).values(
    outbox.map((row) => ({
      notificationId: row.id,
      endpoint: 'https://clinic.example/hook',
      attempt: 1,
      statusCode: 200,
      latencyMs: 12,
      outcome: 'delivered',
    })),
  );
  await db.insert(toolCalls).values({
    id: `${call.callId}:tc-1`,
    sessionId: call.callId,
    toolCallId: 'tc-1',
    name: 'get_health_records',
    arguments: cipher.encryptJson({ category: 'allergies' }),
    result: cipher.encrypt('penicillin'),
    status: 'succeeded',
  });
  return call;
}

/** Moves every timestamp of the call's rows `days` into the past, as if it had happened then. */
async function age(call: Call, days: number) {
  const then = sql`now() - ${days} * interval '1 day'`;
  await db.update(vapiEvents).set({ receivedAt: then }).where(eq(vapiEvents.sessionId, call.callId));
  await db.update(sessionEvents).set({ createdAt: then }).where(eq(sessionEvents.sessionId, call.callId));
  await db.update(notificationOutbox).set({ createdAt: then }).where(eq(notificationOutbox.sessionId, call.callId));
  await db.update(toolCalls).set({ createdAt: then }).where(eq(toolCalls.sessionId, call.callId));
  const outbox = db.select({ id: notificationOutbox.id }).from(notificationOutbox).where(eq(notificationOutbox.sessionId, call.callId));
  await db.update(notificationAttempts).set({ createdAt: then }).where(inArray(notificationAttempts.notificationId, outbox));
  await db
    .update(vapiSessions)
    .set({ endedAt: sql`case when ended_at is null then null else ${then} end` })
    .where(eq(vapiSessions.id, call.callId));
}

/** What is held of a call, counted per table (payloads: those still held). */
async function held(call: Call) {
  const n = async (table: typeof vapiMessages | typeof sessionEvents | typeof toolCalls | typeof notificationOutbox, column = table.sessionId) =>
    (await db.select({ id: table.id }).from(table).where(eq(column, call.callId))).length;
  const outbox = db.select({ id: notificationOutbox.id }).from(notificationOutbox).where(eq(notificationOutbox.sessionId, call.callId));
  return {
    session: (await db.select({ id: vapiSessions.id }).from(vapiSessions).where(eq(vapiSessions.id, call.callId))).length,
    messages: await n(vapiMessages),
    events: (await db.select({ id: vapiEvents.id }).from(vapiEvents).where(eq(vapiEvents.sessionId, call.callId))).length,
    payloads: (
      await db
        .select({ id: vapiEvents.id })
        .from(vapiEvents)
        .where(and(eq(vapiEvents.sessionId, call.callId), isNotNull(vapiEvents.payload)))
    ).length,
    relayEvents: await n(sessionEvents),
    outbox: await n(notificationOutbox),
    attempts: (await db.select({ id: notificationAttempts.id }).from(notificationAttempts).where(inArray(notificationAttempts.notificationId, outbox))).length,
    toolCalls: await n(toolCalls),
  };
}

function sweeper(periods: RetentionPeriods, batchSize = 5) {
  const batches: [RetentionTable, number][] = [];
  const sweep = createRetentionSweeper({ db, periods, logger: silentLogger(), batchSize, onDeleted: (table, rows) => batches.push([table, rows]) });
  return { sweep, batches };
}

describe('the retention sweep', () => {
  it('empties old raw payloads and deletes old dispatched outbox rows and attempts, in bounded batches, keeping new rows and a running call', async () => {
    const [old, recent, running] = [await storeCall('pat-old'), await storeCall('pat-new'), await storeCall('pat-running', { running: true })];
    await age(old, 3);
    await age(running, 3);
    const before = { old: await held(old), recent: await held(recent), running: await held(running) };
    expect(before.old.payloads).toBeGreaterThan(10);

    const { sweep, batches } = sweeper({ eventPayloadDays: 1, deliveryDays: 1, sessionDays: 0 });
    const removed = await sweep.sweepOnce();

    expect(await held(old)).toEqual({ ...before.old, payloads: 0, relayEvents: 0, outbox: 0, attempts: 0 });
    // The event rows stay: a redelivery of one of them is still recognised, and applies nothing.
    expect(await store(storeFor(old.events[0]!, cipher))).toBe('duplicate');
    expect(await held(old)).toMatchObject({ events: before.old.events, payloads: 0 });
    expect(await held(recent)).toEqual(before.recent);
    expect(await held(running)).toEqual(before.running);
    expect(removed).toEqual({
      'vapi_events.payload': before.old.payloads,
      session_events: before.old.relayEvents,
      notification_outbox: before.old.outbox,
      notification_attempts: before.old.attempts,
    });
    // Every statement took at most a batch, and a full batch was followed by another.
    expect(batches.every(([, rows]) => rows >= 1 && rows <= 5)).toBe(true);
    expect(batches.filter(([table]) => table === 'vapi_events.payload').length).toBe(Math.ceil(before.old.payloads / 5));

    const [audit] = await db.select().from(auditEvents).where(eq(auditEvents.action, 'retention.delete'));
    expect(audit).toMatchObject({ actor: 'system', source: 'worker', outcome: 'success', patientId: null, sessionId: null });
    expect(audit!.what).toEqual([
      `vapi_events.payload (${before.old.payloads})`,
      `session_events (${before.old.relayEvents})`,
      `notification_outbox (${before.old.outbox})`,
      `notification_attempts (${before.old.attempts})`,
    ]);
    expectNoPlaintext([audit], ['Okafor', 'pat-old', old.callId, 'penicillin']);

    // Nothing left to do: a second sweep removes nothing and writes no audit row.
    expect(await sweep.sweepOnce()).toEqual({});
    expect(await db.select().from(auditEvents)).toHaveLength(1);
  });

  it('deletes sessions ended longer ago with everything hanging off them, never one in progress, and skips one being written', async () => {
    const [old, recent, running] = [await storeCall('pat-old'), await storeCall('pat-new'), await storeCall('pat-running', { running: true })];
    await age(old, 3);
    await age(running, 3);
    const before = { recent: await held(recent), running: await held(running) };
    const { sweep } = sweeper({ eventPayloadDays: 0, deliveryDays: 0, sessionDays: 2 });

    // While the event lane holds the old session's row, the sweep neither waits for it nor deletes it.
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.transaction(async (tx) => {
      await tx.select().from(vapiSessions).where(eq(vapiSessions.id, old.callId)).for('update');
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isLocked;
    await sweep.sweepOnce();
    expect((await held(old)).session).toBe(1);
    release();
    await holder;

    const removed = await sweep.sweepOnce();
    expect(await held(old)).toEqual({ session: 0, messages: 0, events: 0, payloads: 0, relayEvents: 0, outbox: 0, attempts: 0, toolCalls: 0 });
    expect(removed.vapi_sessions).toBe(1);
    expect(await held(recent)).toEqual(before.recent);
    expect(await held(running)).toEqual(before.running);
  });

  it('sweeps while events flow through the real worker, and every event is stored', async () => {
    // The file's queue prefix, so the reset deletes what this worker leaves in Redis.
    const flowing = testConfig({
      QUEUE_PREFIX: config.queuePrefix,
      RETENTION_EVENT_PAYLOAD_DAYS: '0.00001',
      RETENTION_DELIVERY_DAYS: '0.00001',
      RETENTION_SESSION_DAYS: '0',
    });
    expect(flowing.retention).toEqual({ eventPayloadDays: 0.00001, deliveryDays: 0.00001, sessionDays: 0 });
    const [worker] = track(await buildWorkerApp({ config: flowing, logger: silentLogger(), retentionSweepMs: 10 }));
    await worker.ready();
    const queue = openQueue(eventsQueue, redis, flowing.queuePrefix);
    const calls = Array.from({ length: 12 }, (_, i) => realisticCall({ patientId: `pat-flow-${i}` }));
    const durable = calls.flatMap((call) => call.events.filter((body) => !isLiveOnlyBody(body)));
    // The calls' events interleaved, as calls going on at once send them.
    for (let step = 0; step < Math.max(...calls.map((call) => call.events.length)); step += 1) {
      const jobs = calls.flatMap((call) => (call.events[step] && !isLiveOnlyBody(call.events[step]!) ? [jobFor(call.events[step]!, cipher)] : []));
      await queue.addBulk(jobs.map((job) => ({ name: job.type, data: job, opts: { jobId: job.eventId } })));
    }

    await waitFor(async () => (await db.select({ id: vapiEvents.id }).from(vapiEvents)).length === durable.length, 20_000);
    const sessions = await waitFor(async () => {
      const rows = await db.select({ status: vapiSessions.status }).from(vapiSessions);
      return rows.length === calls.length && rows.every((row) => row.status === 'completed') && rows;
    }, 20_000);
    expect(sessions).toHaveLength(calls.length);
    expect((await db.select({ id: vapiMessages.id }).from(vapiMessages)).length).toBe(calls.reduce((sum, call) => sum + call.finalTranscripts.length, 0));
    // The sweep ran throughout: every payload and dispatched relay event of the completed calls goes.
    await waitFor(async () => (await db.select({ id: vapiEvents.id }).from(vapiEvents).where(isNotNull(vapiEvents.payload))).length === 0, 20_000);
    await waitFor(
      async () => (await db.select({ id: sessionEvents.id }).from(sessionEvents).where(isNotNull(sessionEvents.dispatchedAt))).length === 0,
      20_000,
    );
    expect((await db.select({ id: sessionEvents.id }).from(sessionEvents).where(isNull(sessionEvents.dispatchedAt))).length).toBe(0);

    const metrics = (await worker.inject({ url: '/metrics' })).body;
    const deleted = Number(/vapi_relay_retention_deleted_rows_total\{table="vapi_events.payload"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    expect(deleted).toBe(durable.length);
    expect(metrics).toMatch(/vapi_relay_retention_deleted_rows_total\{table="session_events"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/vapi_relay_retention_oldest_seconds\{table="vapi_events.payload"[^}]*\} 0\n/);
    expect(metrics).toMatch(/vapi_relay_retention_oldest_seconds\{table="vapi_sessions"[^}]*\} \d/);
    await queue.close();
  });
});
