import { randomUUID } from 'node:crypto';
import { and, asc, eq, gt } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createLogger } from '#shared/logger';
import { appointments, appointmentSlots, auditEvents, sessionEvents, toolCalls, vapiSessions } from '#shared/db/schema';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { SEED_PATIENTS } from '../../scripts/seed/clinic-data.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { testConfig } from '../helpers/config.ts';
import { expectNoPlaintext } from '../helpers/plaintext.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, track, reset, close } = integrationResources();
const [ada, ben] = SEED_PATIENTS as [(typeof SEED_PATIENTS)[0], (typeof SEED_PATIENTS)[0]];
let config: Config;
let cipher: FieldCipher;
let ingress: FastifyInstance;
let worker: FastifyInstance;
let logLines: string[];
/** Every queue prefix a test started apps on (a test may start twice, with other settings): each is emptied after it. */
const prefixes: string[] = [];

type ToolResult = { toolCallId: string; name: string; result?: string; error?: string };

async function start(overrides: Record<string, string> = {}) {
  config = testConfig(overrides);
  prefixes.push(config.queuePrefix);
  cipher = new FieldCipher(config.dataEncryptionKeys);
  logLines = [];
  const logger = createLogger({ level: 'debug', service: 'test', pretty: false, destination: { write: (line: string) => void logLines.push(line) } });
  [ingress, worker] = track(await buildIngressApp({ config, logger }), await buildWorkerApp({ config, logger }));
  await Promise.all([ingress.ready(), worker.ready()]);
  await seedClinic(handle.db, cipher);
}

const callOf = (patientId?: string) => ({
  id: `call-${randomUUID()}`,
  orgId: 'org-clinic',
  customer: { number: '+15550199999' },
  ...(patientId ? { metadata: { patientId } } : {}),
});

let nextToolCall = 0;
const toolCall = (name: string, args: unknown) => ({ id: `tc-${++nextToolCall}`, type: 'function', function: { name, arguments: args } });

async function send(body: unknown) {
  const raw = JSON.stringify(body);
  const response = await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
  expect(response.statusCode).toBe(200);
  return response.json() as Record<string, unknown>;
}

async function callTools(call: Record<string, unknown>, ...calls: ReturnType<typeof toolCall>[]): Promise<ToolResult[]> {
  const answer = await send({
    message: {
      type: 'tool-calls',
      timestamp: Date.now(),
      call,
      toolCallList: calls,
      toolWithToolCallList: calls.map((c) => ({ type: 'function', toolCall: c })),
    },
  });
  return answer.results as ToolResult[];
}

const parsed = (result: ToolResult) => JSON.parse(result.result!) as Record<string, unknown>;

const tomorrowSlot = async () => {
  const [slot] = await handle.db
    .select()
    .from(appointmentSlots)
    .where(gt(appointmentSlots.startsAt, new Date()))
    .orderBy(asc(appointmentSlots.startsAt))
    .limit(1);
  return slot!;
};

beforeEach(() => start());
afterEach(async () => {
  for (const prefix of prefixes.splice(0)) await reset(prefix);
});
afterAll(() => close());

describe('tool calls through ingress, queue and worker', () => {
  it('answers a message with two calls in one response: ids, names, one-line JSON results, in order', async () => {
    const slot = await tomorrowSlot();
    const date = slot.startsAt.toISOString().slice(0, 10);
    const results = await callTools(
      callOf(),
      toolCall('check_availability', { date }),
      toolCall('lookup_patient_info', JSON.stringify({ dateOfBirth: ada.dateOfBirth, phoneNumber: ada.phoneNumber })),
    );
    expect(results.map((r) => r.name)).toEqual(['check_availability', 'lookup_patient_info']);
    expect(results.map((r) => r.toolCallId)).toEqual([`tc-${nextToolCall - 1}`, `tc-${nextToolCall}`]);
    for (const r of results) expect(r.result).not.toMatch(/[\r\n]/);
    expect((parsed(results[0]!).slots as unknown[]).length).toBeGreaterThan(0);
    expect(parsed(results[1]!)).toMatchObject({ found: true, patientId: ada.id, firstName: ada.firstName, upcomingAppointments: [] });
  });

  it("verifies the session after a successful lookup, then reads that patient's records and orders only", async () => {
    const call = callOf();
    const [before] = await callTools(call, toolCall('get_health_records', { category: 'medications' }));
    expect(before!.error).toMatch(/confirm who you are/);

    await callTools(call, toolCall('lookup_patient_info', { dateOfBirth: ada.dateOfBirth, fullName: `${ada.firstName} ${ada.lastName}` }));
    expect(await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, call.id))).toMatchObject([{ patientId: ada.id, patientVerified: true }]);

    const [records, orders, otherOrder] = await callTools(
      call,
      toolCall('get_health_records', { category: 'medications' }),
      toolCall('lookup_order', { kind: 'prescription' }),
      toolCall('lookup_order', { orderId: ben.orders[0]!.id }),
    );
    expect(parsed(records!)).toEqual({ medications: ada.medications });
    expect(parsed(orders!).orders).toEqual([expect.objectContaining({ orderId: ada.orders[0]!.id, kind: 'prescription', status: ada.orders[0]!.status })]);
    expect(otherOrder!.error).toMatch(/cannot find that order/);
    expect(JSON.stringify([records, orders, otherOrder])).not.toContain(ben.orders[0]!.description);

    const refused = await handle.db
      .select()
      .from(toolCalls)
      .where(and(eq(toolCalls.sessionId, call.id), eq(toolCalls.status, 'refused')));
    expect(refused.map((row) => [row.name, row.error]).sort()).toEqual([
      ['get_health_records', 'refused: caller not verified'],
      ['lookup_order', 'refused: order unknown for this patient'],
    ]);
  });

  it('never switches a verified call to another patient, whatever the arguments say', async () => {
    const call = callOf(ada.id);
    const [switched] = await callTools(call, toolCall('lookup_patient_info', { dateOfBirth: ben.dateOfBirth, phoneNumber: ben.phoneNumber }));
    expect(switched!.error).toMatch(/already confirmed for another patient/);
    const [records] = await callTools(call, toolCall('get_health_records', { category: 'allergies' }));
    expect(parsed(records!)).toEqual({ allergies: ada.allergies });
  });

  it("never hands one call's answer to another: a result copied in Redis into another job's is answered with an error", async () => {
    const adaCall = callOf(ada.id);
    const benCall = callOf(ben.id);
    const adaRecords = toolCall('get_health_records', { category: 'medications' });
    const benRecords = toolCall('get_health_records', { category: 'medications' });
    const medicationsOf = async (call: typeof adaCall, request: typeof adaRecords) =>
      (parsed((await callTools(call, request))[0]!).medications as unknown[]).length;
    expect(await medicationsOf(adaCall, adaRecords)).toBe(ada.medications.length);
    expect(await medicationsOf(benCall, benRecords)).toBe(ben.medications.length);

    // Someone with access to Redis (not to the key) puts Ada's sealed answer into Ben's finished job.
    const finished = await ingress.queues.tools.getCompleted();
    const jobOf = (sessionId: string) => finished.find((job) => job.data.sessionId === sessionId)!;
    const adaAnswer = await redis.hget(ingress.queues.tools.toKey(jobOf(adaCall.id).id!), 'returnvalue');
    await redis.hset(ingress.queues.tools.toKey(jobOf(benCall.id).id!), 'returnvalue', adaAnswer!);

    // Vapi delivers Ben's message again: the ingress waits for the same job and finds an answer that is not its own.
    const [again] = await callTools(benCall, benRecords);
    expect(again).toEqual({ toolCallId: benRecords.id, name: 'get_health_records', error: expect.any(String) });
    expect(JSON.stringify(again)).not.toContain(ada.medications[0]!.name);
    expect(logLines.some((line) => line.includes('a seal was altered in Redis after it was sealed') && line.includes('"sealed":"result"'))).toBe(true);
    expect((await ingress.inject({ url: '/metrics' })).body).toMatch(
      /vapi_relay_tampered_seals_total\{queue="vapi-tools",sealed="result",service="ingress"\} 1/,
    );
  });

  it('books a slot for exactly one of twenty callers racing for it; the others hear a sentence', async () => {
    const slot = await tomorrowSlot();
    const patients = Array.from({ length: 20 }, (_, i) => SEED_PATIENTS[i % SEED_PATIENTS.length]!.id);
    const answers = await Promise.all(patients.map((patientId) => callTools(callOf(patientId), toolCall('schedule_appointment', { slotId: slot.id }))));
    const booked = answers.filter(([r]) => r!.result !== undefined);
    expect(booked).toHaveLength(1);
    expect(parsed(booked[0]![0]!)).toMatchObject({ booked: true, startsAt: slot.startsAt.toISOString() });
    for (const [r] of answers.filter(([a]) => a!.error !== undefined)) expect(r!.error).toMatch(/just taken/);
    expect(await handle.db.select().from(appointments).where(eq(appointments.slotId, slot.id))).toHaveLength(1);
    const refusals = await handle.db.select({ error: toolCalls.error }).from(toolCalls).where(eq(toolCalls.status, 'refused'));
    expect(refusals).toEqual(Array.from({ length: 19 }, () => ({ error: 'refused: slot taken by another booking' })));
  });

  it('answers in time when a booking outlasts the deadline, and the late booking never commits', async () => {
    await ingress.close();
    await worker.close();
    await start({ TOOL_DEADLINE_MS: '700' });
    const slot = await tomorrowSlot();
    // Another transaction holds the slot: the booking waits past the deadline.
    let release!: () => void;
    const held = handle.db.transaction(async (tx) => {
      await tx.select().from(appointmentSlots).where(eq(appointmentSlots.id, slot.id)).for('update');
      await new Promise<void>((resolve) => (release = resolve));
    });
    const call = callOf(ada.id);
    const startedAt = Date.now();
    const [answer] = await callTools(call, toolCall('schedule_appointment', { slotId: slot.id }));
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(answer!.error).toEqual(expect.any(String));
    release();
    await held;
    await waitFor(async () => (await handle.db.select().from(toolCalls).where(eq(toolCalls.sessionId, call.id)))[0]?.status === 'expired');
    expect(await handle.db.select().from(appointments)).toHaveLength(0);
  });

  it('answers bad arguments and unknown tools with an error entry each, and records them', async () => {
    const call = callOf();
    const results = await callTools(
      call,
      toolCall('check_availability', '{"date": "2026-11-2'),
      toolCall('check_availability', { date: 'next tuesday' }),
      toolCall('order_pizza', {}),
    );
    expect(results.map((r) => r.error)).toEqual([
      expect.stringMatching(/could not read the details/),
      expect.stringMatching(/date must be YYYY-MM-DD/),
      'I cannot do that here.',
    ]);
    const rows = await handle.db.select().from(toolCalls).where(eq(toolCalls.sessionId, call.id));
    expect(rows.map((row) => row.status).sort()).toEqual(['invalid', 'invalid', 'unknown_tool']);
  });

  it('tells the app what the assistant is doing: function_call started and completed, in seq', async () => {
    const call = callOf(ada.id);
    await callTools(call, toolCall('lookup_order', {}));
    await waitFor(async () => (await handle.db.select().from(sessionEvents).where(eq(sessionEvents.sessionId, call.id))).length >= 2);
    const events = await handle.db.select().from(sessionEvents).where(eq(sessionEvents.sessionId, call.id)).orderBy(asc(sessionEvents.seq));
    const calls = events.filter((e) => e.type === 'function_call').map((e) => cipher.decryptJson<{ name: string; status: string }>(e.data));
    expect(calls).toEqual([
      expect.objectContaining({ name: 'lookup_order', status: 'started' }),
      expect.objectContaining({ name: 'lookup_order', status: 'completed' }),
    ]);
  });

  it("answers the story's function-call envelope and a chat's tool calls", async () => {
    const slot = await tomorrowSlot();
    const date = slot.startsAt.toISOString().slice(0, 10);
    const story = await send({ type: 'function-call', data: { sessionId: `story-${randomUUID()}`, name: 'check_availability', parameters: { date } } });
    expect(JSON.parse(story.result as string).slots.length).toBeGreaterThan(0);

    const chat = { id: `chat-${randomUUID()}`, orgId: 'org-clinic', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() };
    const c = toolCall('check_availability', { date });
    const answer = await send({ message: { type: 'tool-calls', chat, toolCallList: [c], toolWithToolCallList: [{ type: 'function', toolCall: c }] } });
    expect((answer.results as ToolResult[])[0]).toMatchObject({ toolCallId: c.id, name: 'check_availability', result: expect.any(String) });
    expect(await handle.db.select().from(toolCalls).where(eq(toolCalls.sessionId, chat.id))).toHaveLength(1);
  });

  it('keeps tool arguments and results out of Redis, the database and the logs in clear', async () => {
    const call = callOf();
    await callTools(call, toolCall('lookup_patient_info', { dateOfBirth: ada.dateOfBirth, phoneNumber: ada.phoneNumber }));
    await callTools(call, toolCall('get_health_records', {}));
    const secrets = [ada.dateOfBirth, ada.phoneNumber, ada.medications[0]!.name, ada.allergies[0]!.substance];

    const keys = await redis.keys(`${config.queuePrefix}*`);
    const dump: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'hash') dump.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'string') dump.push((await redis.get(key)) ?? '');
      else if (type === 'stream') dump.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
    const rows = await handle.sql`select * from tool_calls`;
    for (const secret of secrets) {
      expect(dump.join('\n')).not.toContain(secret);
      expect(JSON.stringify(rows)).not.toContain(secret);
      expect(logLines.join('\n')).not.toContain(secret);
    }
    expect(cipher.decryptJson(rows[0]!.arguments as string)).toEqual({ dateOfBirth: ada.dateOfBirth, phoneNumber: ada.phoneNumber });
  });

  it("leaves an audit row for each read of a patient's details, records or orders, naming them by kind and id only", async () => {
    const call = callOf();
    await callTools(call, toolCall('lookup_patient_info', { dateOfBirth: '1999-01-01', phoneNumber: ada.phoneNumber }));
    await callTools(call, toolCall('lookup_patient_info', { dateOfBirth: ada.dateOfBirth, phoneNumber: ada.phoneNumber }));
    await callTools(call, toolCall('get_health_records', {}));
    await callTools(call, toolCall('lookup_order', {}));
    await callTools(call, toolCall('lookup_order', { orderId: ben.orders[0]!.id }));
    await callTools(call, toolCall('check_availability', { date: (await tomorrowSlot()).startsAt.toISOString().slice(0, 10) }));

    const rows = await handle.db.select().from(auditEvents).where(eq(auditEvents.sessionId, call.id)).orderBy(asc(auditEvents.id));
    expect(rows.map(({ actor, action, source }) => ({ actor, action, source }))).toEqual(
      rows.map(() => ({ actor: 'tool', action: 'tool.read', source: 'worker' })),
    );
    expect(rows.map(({ patientId, outcome, what }) => ({ patientId, outcome, what }))).toEqual([
      { patientId: null, outcome: 'not-found', what: ['tool lookup_patient_info', 'patients (0)'] },
      { patientId: ada.id, outcome: 'success', what: ['tool lookup_patient_info', `patients/${ada.id}`] },
      {
        patientId: ada.id,
        outcome: 'success',
        what: ['tool get_health_records', 'health_records: allergies (1)', 'health_records: medications (1)', 'health_records: visits (1)'],
      },
      { patientId: ada.id, outcome: 'success', what: ['tool lookup_order', 'orders: all (2)', ...ada.orders.map((order) => `orders/${order.id}`)] },
      // Another patient's order is not found for this one, and its id, the caller's words, is not written down.
      { patientId: ada.id, outcome: 'not-found', what: ['tool lookup_order', 'orders: all (0)'] },
    ]);
    expectNoPlaintext(rows, [
      ada.dateOfBirth,
      ada.phoneNumber,
      ada.allergies[0]!.substance,
      ada.allergies[0]!.reaction,
      ada.medications[0]!.name,
      ada.visits[0]!.reason,
      ...ada.orders.map((order) => order.description),
      ben.orders[0]!.id,
    ]);
  });

  it('counts the recorded tool calls in the session summary', async () => {
    const call = callOf(ada.id);
    await callTools(call, toolCall('lookup_order', {}), toolCall('get_health_records', {}));
    await send({
      message: { type: 'end-of-call-report', timestamp: Date.now(), call, endedReason: 'customer-ended-call', artifact: { messages: [] }, analysis: {} },
    });
    const row = await waitFor(async () => (await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, call.id)))[0]?.keyInsights ?? undefined);
    // The two calls of one message run at once: which is recorded first is theirs to race.
    expect([...(row as { toolsUsed: string[] }).toolsUsed].sort()).toEqual(['get_health_records', 'lookup_order']);
  });
});

describe('tool calls that name no call or chat (the dashboard tool tester), over HTTP', () => {
  let url: string;
  beforeEach(async () => {
    url = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  });

  async function postOverHttp(body: unknown) {
    const raw = JSON.stringify(body);
    const response = await fetch(url, { method: 'POST', headers: hmacHeaders(raw), body: raw });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('answers every id with 200: a tool needing no patient runs, the others and unknown names get a sentence, nothing is recorded', async () => {
    const slot = await tomorrowSlot();
    const date = slot.startsAt.toISOString().slice(0, 10);
    const calls = [
      toolCall('check_availability', JSON.stringify({ date })),
      toolCall('check_availability', { date }),
      toolCall('get_health_records', { category: 'medications' }),
      toolCall('lookup_patient_info', { dateOfBirth: ada.dateOfBirth, phoneNumber: ada.phoneNumber }),
      toolCall('order_pizza', {}),
    ];
    const { status, body } = await postOverHttp({ message: { type: 'tool-calls', timestamp: Date.now(), toolCallList: calls } });
    expect(status).toBe(200);
    const results = body.results as ToolResult[];
    expect(results.map((r) => [r.toolCallId, r.name])).toEqual(calls.map((c) => [c.id, c.function.name]));
    for (const r of results.slice(0, 2)) expect((parsed(r).slots as unknown[]).length).toBeGreaterThan(0);
    expect(results.slice(2, 4).map((r) => r.error)).toEqual([
      expect.stringMatching(/only do that during a call/),
      expect.stringMatching(/only do that during a call/),
    ]);
    expect(results[4]!.error).toBe('I cannot do that here.');
    expect(JSON.stringify(results)).not.toContain(ada.firstName);
    expect(await handle.db.select().from(vapiSessions)).toHaveLength(0);
    expect(await handle.db.select().from(toolCalls)).toHaveLength(0);
  });

  it("answers the story's function-call and Vapi's legacy one without a call id with {result}", async () => {
    const slot = await tomorrowSlot();
    const date = slot.startsAt.toISOString().slice(0, 10);
    const legacy = await postOverHttp({
      message: { type: 'function-call', timestamp: Date.now(), functionCall: { name: 'check_availability', parameters: JSON.stringify({ date }) } },
    });
    expect(legacy.status).toBe(200);
    expect(JSON.parse(legacy.body.result as string).slots.length).toBeGreaterThan(0);
    const story = await postOverHttp({ type: 'function-call', data: { name: 'lookup_order', parameters: {} } });
    expect(story).toEqual({ status: 200, body: { result: expect.stringMatching(/only do that during a call/) } });
  });
});

describe('a session the tool runner creates first', () => {
  it('gets the call type, assistant and phone number its call names, as one the events lane creates', async () => {
    const call = { ...callOf(ada.id), type: 'inboundPhoneCall', assistantId: 'asst-front-desk', phoneNumberId: 'pn-main' };
    await callTools(call, toolCall('lookup_order', {}));
    const [row] = await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, call.id));
    expect(row).toMatchObject({
      callType: 'inboundPhoneCall',
      assistantId: 'asst-front-desk',
      phoneNumberId: 'pn-main',
      patientId: ada.id,
      metadata: { source: 'vapi' },
    });
  });
});
