import { getTableName } from 'drizzle-orm';
import { createDatabase, type DatabaseHandle } from '#shared/db/client';
import { schema } from '#shared/db/schema';
import { TEST_DATABASE_URL } from './environment.ts';

export const openTestDatabase = (): DatabaseHandle => createDatabase(TEST_DATABASE_URL, { max: 4 });

/** Every table of the schema, by its SQL name. */
export const TABLE_NAMES = Object.values(schema).map((table) => getTableName(table));

/** Empties every table, so each test starts from nothing. */
export async function truncateAll(handle: DatabaseHandle): Promise<void> {
  await handle.sql.unsafe(`truncate ${TABLE_NAMES.map((name) => `"${name}"`).join(', ')} restart identity cascade`);
}
