import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { SEED_PATIENTS } from '../../scripts/seed/clinic-data.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { testConfig } from '../helpers/config.ts';
import { openTestDatabase, truncateAll } from '../helpers/database.ts';

const handle = openTestDatabase();
const cipher = new FieldCipher(testConfig().dataEncryptionKeys);
const counts = async () =>
  (
    await handle.sql`select (select count(*) from patients)::int as patients, (select count(*) from providers)::int as providers,
    (select count(*) from appointment_slots)::int as slots, (select count(*) from health_records)::int as records, (select count(*) from orders)::int as orders`
  )[0];

afterEach(() => truncateAll(handle));
afterAll(() => handle.close());

describe('the clinic seed', () => {
  it('is idempotent, and keeps patient details and records encrypted', async () => {
    await seedClinic(handle.db, cipher);
    const first = await counts();
    await seedClinic(handle.db, cipher);
    expect(await counts()).toEqual(first);
    expect(first).toMatchObject({ patients: SEED_PATIENTS.length, providers: 3 });
    expect(first!.slots).toBeGreaterThan(100);

    const dump = JSON.stringify(await handle.sql`select * from patients, health_records, orders`);
    for (const patient of SEED_PATIENTS) {
      for (const secret of [patient.lastName, patient.dateOfBirth, patient.phoneNumber, patient.orders[0]!.description]) expect(dump).not.toContain(secret);
    }
  });
});
