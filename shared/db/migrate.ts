import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { createDatabase } from './client.ts';

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));
/** Arbitrary constant: serialises migrations when several processes start at once. */
const MIGRATION_LOCK_ID = 7_301_644;

/** Creates the database named in `url` when it does not exist yet (connecting to `postgres` to do so). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error(`DATABASE_URL names no database: ${target.origin}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    const found = await sql`select 1 from pg_database where datname = ${name}`;
    if (found.length > 0) return false;
    await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`).catch((error: { code?: string }) => {
      if (error.code !== '42P04') throw error; // created meanwhile by another process
    });
    return true;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates the database if needed and applies every migration in `drizzle/`. Idempotent. */
export async function migrateDatabase(url: string): Promise<{ created: boolean }> {
  const created = await ensureDatabase(url);
  const handle = createDatabase(url, { max: 1, unbounded: true });
  try {
    await handle.sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await migrate(handle.db, { migrationsFolder: MIGRATIONS_FOLDER });
    await handle.sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
  } finally {
    await handle.close();
  }
  return { created };
}
