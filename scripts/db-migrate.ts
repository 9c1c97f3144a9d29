import { resolve } from 'node:path';
import { loadDatabaseUrl } from '#shared/config';
import { migrateDatabase } from '#shared/db/migrate';
import { readEnvironment } from '#shared/secrets';

/** `npm run db:migrate`: create the database if missing and apply `drizzle/`. Idempotent. */
const url = loadDatabaseUrl(readEnvironment(process.env, resolve('.env')));
const where = new URL(url);
try {
  const { created } = await migrateDatabase(url);
  console.log(`${created ? 'created and migrated' : 'migrated'} database ${where.pathname.slice(1)} on ${where.host}`);
} catch (error) {
  console.error(
    `Could not migrate database ${where.pathname.slice(1)} on ${where.host}: ${(error as Error).message}\n` +
      'Is PostgreSQL running there? Start it, or set DATABASE_URL (in the environment or .env).',
  );
  process.exit(1);
}
