import { DrizzleQueryError } from 'drizzle-orm';

/** The fields of a Postgres server error that name no value: its SQLSTATE and schema objects. */
export interface PostgresErrorFields {
  code?: string;
  table_name?: string;
  column_name?: string;
  constraint_name?: string;
}

/** A server-side Postgres error (postgres.js marks them with `severity`), however deeply wrapped. */
export const postgresErrorOf = (error: unknown): PostgresErrorFields | undefined => {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ('severity' in current && typeof (current as PostgresErrorFields).code === 'string') return current as PostgresErrorFields;
  }
  return undefined;
};

/**
 * Why a database call failed, in words fit for a log line or a job's failure reason: a Postgres
 * error by its SQLSTATE and schema objects only (Postgres's and Drizzle's own messages quote the
 * values, which may be health data), anything else (a refused connection, a timeout) by its own
 * message, without Drizzle's wrapper, which quotes the statement's parameters.
 */
export function databaseFailure(error: unknown): string {
  const pg = postgresErrorOf(error);
  if (pg) {
    const where = [pg.table_name, pg.column_name, pg.constraint_name].filter(Boolean).join(' ');
    return `Database error ${pg.code}${where ? ` on ${where}` : ''}`;
  }
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : 'Unknown failure';
}
