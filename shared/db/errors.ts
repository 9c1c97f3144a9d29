import { DrizzleQueryError } from 'drizzle-orm';

/** The fields of a Postgres server error that name what failed, never the values involved. */
export interface PostgresErrorFields {
  code?: string;
  table_name?: string;
  column_name?: string;
  constraint_name?: string;
}

/** A server-side Postgres error (postgres.js marks them with `severity`), however deeply wrapped. */
export function postgresErrorOf(error: unknown): PostgresErrorFields | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ('severity' in current && typeof (current as PostgresErrorFields).code === 'string') return current as PostgresErrorFields;
  }
  return undefined;
}

/**
 * What logs and recorded failures say of a database error, since Drizzle's and Postgres's own
 * messages quote the statement and its values (health data, an operator's filter): `Database error
 * <SQLSTATE> on <table> <column> <constraint>` for a server error, the driver's message for a query
 * that never reached the server (a lost connection). Undefined for an error of another kind.
 */
export function databaseErrorSummary(error: unknown): string | undefined {
  const pg = postgresErrorOf(error);
  if (pg) {
    const where = [pg.table_name, pg.column_name, pg.constraint_name].filter(Boolean).join(' ');
    return `Database error ${pg.code}${where ? ` on ${where}` : ''}`;
  }
  if (!(error instanceof DrizzleQueryError)) return undefined;
  return error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : 'Database query failed';
}
