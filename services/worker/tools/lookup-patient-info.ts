import { and, asc, eq, gt, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { appointments, appointmentSlots, patients, providers } from '#shared/db/schema';
import { defineTool, isoDate, ToolRefusal } from './define-tool.ts';
import { nameDobKey } from '#shared/patient-identity';

const parameters = z
  .object({
    dateOfBirth: isoDate('dateOfBirth').describe("The caller's date of birth, YYYY-MM-DD"),
    phoneNumber: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'phoneNumber must be E.164, like +15550100101')
      .optional()
      .describe('The phone number on file, E.164 (+15550100101)'),
    fullName: z.string().trim().min(3).max(200).optional().describe("The caller's first and last name, when they do not give a phone number"),
  })
  .refine((args) => args.phoneNumber || args.fullName, 'give phoneNumber or fullName with dateOfBirth');

/**
 * Identifies the caller by date of birth plus phone number or full name, and on success verifies
 * the session's patient. A call already verified for one patient is never switched to another.
 */
export const lookupPatientInfo = defineTool({
  name: 'lookup_patient_info',
  description:
    "Identify the caller as a patient of the clinic from their date of birth and their phone number or full name. Call it before anything about the patient's records, orders or bookings.",
  parameters,
  async handler(args, { db, cipher, session, verifyPatient, recordRead }) {
    const candidates = await db
      .select({ id: patients.id, firstName: patients.firstName, dateOfBirth: patients.dateOfBirth })
      .from(patients)
      .where(
        args.fullName
          ? inArray(patients.nameDobHash, cipher.lookupHashes(nameDobKey(args.fullName, args.dateOfBirth)))
          : inArray(patients.phoneHash, cipher.lookupHashes(args.phoneNumber!)),
      )
      .limit(5);
    // A phone shared by a family: the date of birth tells them apart.
    const matches = candidates.filter((row) => cipher.decrypt(row.dateOfBirth) === args.dateOfBirth);
    if (matches.length !== 1) {
      await recordRead({ patientId: null, what: ['patients (0)'], outcome: 'not-found' });
      return { found: false };
    }
    const patient = matches[0]!;
    if (session.verified && session.patientId && session.patientId !== patient.id) {
      throw new ToolRefusal(
        'call already verified for another patient',
        'This call is already confirmed for another patient, so I cannot look up a second one here.',
      );
    }
    await verifyPatient(patient.id);

    const upcoming = await db
      .select({ appointmentId: appointments.id, startsAt: appointmentSlots.startsAt, provider: providers.name })
      .from(appointments)
      .innerJoin(appointmentSlots, eq(appointmentSlots.id, appointments.slotId))
      .innerJoin(providers, eq(providers.id, appointmentSlots.providerId))
      .where(and(eq(appointments.patientId, patient.id), eq(appointments.status, 'booked'), gt(appointmentSlots.startsAt, new Date())))
      .orderBy(asc(appointmentSlots.startsAt))
      .limit(5);
    await recordRead({ patientId: patient.id, what: [`patients/${patient.id}`, ...upcoming.map((row) => `appointments/${row.appointmentId}`)] });
    return {
      found: true,
      patientId: patient.id,
      firstName: cipher.decrypt(patient.firstName),
      upcomingAppointments: upcoming.map((row) => ({ ...row, startsAt: row.startsAt.toISOString() })),
    };
  },
});
