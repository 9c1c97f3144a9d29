import { and, asc, eq, gt, gte, isNull, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { appointments, appointmentSlots, providers } from '#shared/db/schema';
import { defineTool, isoDate } from './define-tool.ts';

const MAX_SLOTS = 8;

/** Open slots on one day (UTC), optionally for one provider or specialty; no patient needed. */
export const checkAvailability = defineTool({
  name: 'check_availability',
  description: 'List open appointment slots on a date, optionally for one provider (providerId) or one specialty.',
  parameters: z.object({
    date: isoDate('date').describe('The day to look at, YYYY-MM-DD'),
    providerId: z.string().min(1).max(128).optional(),
    specialty: z.string().trim().min(2).max(100).optional(),
  }),
  sessionless: true,
  async handler(args, { db }) {
    const dayStart = new Date(`${args.date}T00:00:00Z`);
    const dayEnd = new Date(dayStart.getTime() + 24 * 3600 * 1000);
    const conditions: SQL[] = [
      gte(appointmentSlots.startsAt, dayStart),
      lt(appointmentSlots.startsAt, dayEnd),
      gt(appointmentSlots.startsAt, new Date()),
      isNull(appointments.id),
    ];
    if (args.providerId) conditions.push(eq(appointmentSlots.providerId, args.providerId));
    if (args.specialty) conditions.push(eq(providers.specialty, args.specialty.toLowerCase()));
    const open = await db
      .select({ slotId: appointmentSlots.id, startsAt: appointmentSlots.startsAt, providerId: providers.id, provider: providers.name })
      .from(appointmentSlots)
      .innerJoin(providers, eq(providers.id, appointmentSlots.providerId))
      .leftJoin(appointments, and(eq(appointments.slotId, appointmentSlots.id), eq(appointments.status, 'booked')))
      .where(and(...conditions))
      .orderBy(asc(appointmentSlots.startsAt), asc(providers.name))
      .limit(MAX_SLOTS);
    return { slots: open.map((slot) => ({ ...slot, startsAt: slot.startsAt.toISOString() })) };
  },
});
