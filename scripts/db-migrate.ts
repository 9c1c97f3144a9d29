import { loadDatabaseUrl } from '#shared/config';
import { resolve } from 'node:path';
import { migrateDatabase } from '#shared/db/migrate';
import { readEnvironment } from '#shared/secrets';

/** `npm run db:migrate`: create the database if missing and apply `drizzle/`. Idempotent. */
const url = loadDatabaseUrl(readEnvironment(process.env, resolve('.env')));
const { created } = await migrateDatabase(url);
const where = new URL(url);
console.log(`${created ? 'created and migrated' : 'migrated'} database ${where.pathname.slice(1)} on ${where.host}`);
