import { and, asc, eq, gt, notExists } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { DatabaseHandle } from '#shared/db/client';
import { appointments, appointmentSlots, vapiMessages, vapiSessions } from '#shared/db/schema';
import { WEBHOOK_PATH } from '#shared/http/paths';
import type { SeedPatient } from '../../scripts/seed/clinic-data.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { hmacHeaders } from './signing.ts';
import { waitFor } from './wait-for.ts';

/** What the assistant is told about a booking, so a test can look for it. */
export const BOOKING_REASON = 'follow-up on the knee injection';

async function send(ingress: FastifyInstance, body: unknown) {
  const raw = JSON.stringify(body);
  const response = await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
  expect(response.statusCode).toBe(200);
  return response.json() as { results?: { result?: string; error?: string }[] };
}

/**
 * Calls of a seeded patient, stored the way production stores them: signed webhooks into an
 * ingress, a worker (running beside it) storing every durable event. Mid-call the assistant reads
 * the patient's allergies and orders and, in the first call unless told not to, books the next slot
 * still open. Resolves once every call is completed with all its utterances stored.
 */
export async function storePatientCalls(ingress: FastifyInstance, handle: DatabaseHandle, patient: SeedPatient, count: number, { book = true } = {}) {
  const calls = Array.from({ length: count }, (_, i) =>
    realisticCall({ patientId: patient.id, customerNumber: patient.phoneNumber, startMs: Date.parse('2026-11-20T15:00:00Z') + i * 3_600_000 }),
  );
  const booked = handle.db
    .select()
    .from(appointments)
    .where(and(eq(appointments.slotId, appointmentSlots.id), eq(appointments.status, 'booked')));
  const [slot] = await handle.db
    .select()
    .from(appointmentSlots)
    .where(and(gt(appointmentSlots.startsAt, new Date()), notExists(booked)))
    .orderBy(asc(appointmentSlots.startsAt))
    .limit(1);
  for (const [index, call] of calls.entries()) {
    const report = call.events.at(-1)!;
    for (const body of call.events.slice(0, -1)) await send(ingress, body);
    const tools = [
      { id: `tc-${index}-records`, type: 'function', function: { name: 'get_health_records', arguments: { category: 'allergies' } } },
      { id: `tc-${index}-orders`, type: 'function', function: { name: 'lookup_order', arguments: {} } },
      ...(book && index === 0
        ? [{ id: `tc-${index}-book`, type: 'function', function: { name: 'schedule_appointment', arguments: { slotId: slot!.id, reason: BOOKING_REASON } } }]
        : []),
    ];
    const answer = await send(ingress, { message: { type: 'tool-calls', timestamp: Date.now(), call: call.call, toolCallList: tools } });
    expect(answer.results!.map((result) => result.error)).toEqual(tools.map(() => undefined));
    await send(ingress, report);
  }
  await waitFor(async () => {
    for (const call of calls) {
      const [session] = await handle.db.select({ status: vapiSessions.status }).from(vapiSessions).where(eq(vapiSessions.id, call.callId));
      const stored = await handle.db
        .select({ id: vapiMessages.id })
        .from(vapiMessages)
        .where(and(eq(vapiMessages.sessionId, call.callId)));
      if (session?.status !== 'completed' || stored.length < call.finalTranscripts.length) return false;
    }
    return true;
  }, 15_000);
  return calls;
}
