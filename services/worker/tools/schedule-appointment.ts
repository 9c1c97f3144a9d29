import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { appointments, appointmentSlots, providers } from '#shared/db/schema';
import { beforeDeadline, defineTool, ToolRefusal, verifiedPatient } from './define-tool.ts';

const UNIQUE_VIOLATION = '23505';

const isUniqueViolation = (error: unknown) => {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ((current as { code?: string }).code === UNIQUE_VIOLATION) return true;
  }
  return false;
};

/**
 * Books a slot for the session's verified patient, or moves one of their appointments to it.
 * Two calls racing for a slot never both succeed: the partial unique index on active bookings
 * decides, not a check before the insert. Nothing commits once the deadline has passed.
 */
export const scheduleAppointment = defineTool({
  name: 'schedule_appointment',
  description: 'Book an open slot (slotId from check_availability) for the verified caller, or move one of their appointments there (replacesAppointmentId).',
  parameters: z.object({
    slotId: z.string().min(1).max(128).describe('A slotId returned by check_availability'),
    reason: z.string().trim().max(500).optional(),
    replacesAppointmentId: z.string().min(1).max(128).optional().describe('To move an appointment: its appointmentId from lookup_patient_info'),
  }),
  async handler(args, context) {
    const patientId = verifiedPatient(context);
    const { db, cipher, session } = context;
    try {
      return await db.transaction(async (tx) => {
        // Bookings of one slot take turns here; the unique index is what makes a double booking impossible.
        const [slot] = await tx
          .select({ startsAt: appointmentSlots.startsAt, provider: providers.name })
          .from(appointmentSlots)
          .innerJoin(providers, eq(providers.id, appointmentSlots.providerId))
          .where(eq(appointmentSlots.id, args.slotId))
          .for('update', { of: appointmentSlots });
        if (!slot || slot.startsAt.getTime() <= Date.now())
          throw new ToolRefusal('slot unknown or in the past', 'I cannot find that time slot. Shall I check availability again?');
        if (args.replacesAppointmentId) {
          const moved = await tx
            .update(appointments)
            .set({ status: 'cancelled', updatedAt: sql`now()` })
            .where(and(eq(appointments.id, args.replacesAppointmentId), eq(appointments.patientId, patientId), eq(appointments.status, 'booked')))
            .returning({ id: appointments.id });
          if (moved.length === 0)
            throw new ToolRefusal(
              'appointment to move is not a booked one of this patient',
              'I cannot find that appointment among yours, so I have not moved anything.',
            );
        }
        const appointmentId = `appt-${randomUUID()}`;
        await tx.insert(appointments).values({
          id: appointmentId,
          patientId,
          slotId: args.slotId,
          reason: args.reason ? cipher.encrypt(args.reason) : null,
          sessionId: session.id,
          replacesAppointmentId: args.replacesAppointmentId ?? null,
        });
        beforeDeadline(context);
        return { booked: true, appointmentId, startsAt: slot.startsAt.toISOString(), provider: slot.provider };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ToolRefusal('slot taken by another booking', 'Sorry, that time was just taken. Would you like another slot?');
      throw error;
    }
  },
});
