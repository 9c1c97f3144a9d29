import { resolve } from 'node:path';
import { loadConfig } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { resolveEnvironment } from '#shared/secrets';
import { seedClinic } from './seed/seed-clinic.ts';

/**
 * `npm run db:seed`: the fictional clinic, encrypted with this deployment's key (from the
 * environment or `.env`, generated on a first run like `npm start` does). Idempotent.
 */
const { env } = resolveEnvironment(process.env, resolve('.env'), ['worker']);
const config = loadConfig(env, ['worker']);
await migrateDatabase(config.databaseUrl);
const handle = createDatabase(config.databaseUrl, { max: 1 });
try {
  const seeded = await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
  console.log(`seeded ${seeded.patients} patients, ${seeded.providers} providers, open slots for the next two weeks`);
} finally {
  await handle.close();
}
