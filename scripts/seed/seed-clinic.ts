import { sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { appointmentSlots, healthRecords, orders, patients, providers } from '#shared/db/schema';
import { nameDobKey } from '#shared/patient-identity';
import { SEED_PATIENTS, SEED_PROVIDERS, SLOT_DAYS_AHEAD, SLOT_HOURS_UTC, SLOT_MINUTES } from './clinic-data.ts';

const DAY_MS = 24 * 3600 * 1000;

/** Weekday slots from tomorrow on, with ids derived from provider and time so re-seeding adds none twice. */
function slotsFrom(now: Date) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: SLOT_DAYS_AHEAD }, (_, i) => new Date(today + (i + 1) * DAY_MS))
    .filter((day) => day.getUTCDay() !== 0 && day.getUTCDay() !== 6)
    .flatMap((day) =>
      SEED_PROVIDERS.flatMap((provider) =>
        SLOT_HOURS_UTC.map((hour) => {
          const startsAt = new Date(day.getTime() + hour * 3600 * 1000);
          return {
            id: `slot-${provider.id.slice(5)}-${startsAt.toISOString().slice(0, 13).replace(/[-T]/g, '')}`,
            providerId: provider.id,
            startsAt,
            endsAt: new Date(startsAt.getTime() + SLOT_MINUTES * 60 * 1000),
          };
        }),
      ),
    );
}

/**
 * Creates the fictional clinic (patients, providers, open slots over the coming weeks, health
 * records, orders), encrypting what is health data. Idempotent: every row has a fixed id and is
 * upserted, so running it again refreshes the data and only adds slots for new days.
 */
export async function seedClinic(db: Database, cipher: FieldCipher, now = new Date()) {
  await db.transaction(async (tx) => {
    await tx
      .insert(providers)
      .values([...SEED_PROVIDERS])
      .onConflictDoUpdate({
        target: providers.id,
        set: { name: sql`excluded.name`, specialty: sql`excluded.specialty` },
      });
    for (const patient of SEED_PATIENTS) {
      const row = {
        id: patient.id,
        firstName: cipher.encrypt(patient.firstName),
        lastName: cipher.encrypt(patient.lastName),
        dateOfBirth: cipher.encrypt(patient.dateOfBirth),
        phoneNumber: cipher.encrypt(patient.phoneNumber),
        phoneHash: cipher.lookupHash(patient.phoneNumber),
        nameDobHash: cipher.lookupHash(nameDobKey(`${patient.firstName} ${patient.lastName}`, patient.dateOfBirth)),
      };
      await tx
        .insert(patients)
        .values(row)
        .onConflictDoUpdate({ target: patients.id, set: { ...row, updatedAt: new Date() } });
      const records = [
        ...patient.allergies.map((data, i) => ({ id: `${patient.id}-allergy-${i}`, category: 'allergies', data, recordedAt: new Date('2020-01-01') })),
        ...patient.medications.map((data, i) => ({ id: `${patient.id}-medication-${i}`, category: 'medications', data, recordedAt: new Date(data.since) })),
        ...patient.visits.map((data, i) => ({ id: `${patient.id}-visit-${i}`, category: 'visits', data, recordedAt: new Date(data.date) })),
      ].map((record) => ({ ...record, patientId: patient.id, data: cipher.encryptJson(record.data) }));
      if (records.length > 0) {
        await tx
          .insert(healthRecords)
          .values(records)
          .onConflictDoUpdate({ target: healthRecords.id, set: { data: sql`excluded.data`, recordedAt: sql`excluded.recorded_at` } });
      }
      const patientOrders = patient.orders.map((order) => ({
        id: order.id,
        patientId: patient.id,
        kind: order.kind,
        description: cipher.encrypt(order.description),
        status: order.status,
        updatedAt: new Date(order.updatedAt),
      }));
      await tx
        .insert(orders)
        .values(patientOrders)
        .onConflictDoUpdate({
          target: orders.id,
          set: { description: sql`excluded.description`, status: sql`excluded.status`, updatedAt: sql`excluded.updated_at` },
        });
    }
    const slots = slotsFrom(now);
    if (slots.length > 0) await tx.insert(appointmentSlots).values(slots).onConflictDoNothing();
  });
  return { patients: SEED_PATIENTS.length, providers: SEED_PROVIDERS.length };
}
