import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { readCommandLine, runCommand } from './cli/args.ts';
import { cliConfig } from './cli-config.ts';
import { seedClinic } from './seed/seed-clinic.ts';

/**
 * `npm run db:seed`: the fictional clinic, encrypted with this deployment's key (from the
 * environment or `.env`, generated on a first run like `npm start` does). Idempotent.
 */
const USAGE = `usage: npm run db:seed

Migrates the database and adds the fictional clinic (patients, providers, open slots for the next
two weeks), encrypted with this deployment's key (DATA_ENCRYPTION_KEY, from the environment or .env,
generated on a first run). Running it again changes nothing.

options:
  -h, --help   this text`;
const COMMAND = { name: 'db:seed', usage: USAGE, options: {} } as const;

readCommandLine(COMMAND);
const config = cliConfig();
const handle = createDatabase(config.databaseUrl, { max: 1 });
await runCommand(
  async () => {
    await migrateDatabase(config.databaseUrl);
    const seeded = await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
    console.log(`seeded ${seeded.patients} patients, ${seeded.providers} providers, open slots for the next two weeks`);
    return 0;
  },
  () => handle.close(),
);
