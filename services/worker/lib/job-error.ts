import { UnrecoverableError } from 'bullmq';
import { DrizzleQueryError } from 'drizzle-orm';

interface PostgresErrorFields {
  code?: string;
  table_name?: string;
  column_name?: string;
  constraint_name?: string;
}

/** A server-side Postgres error (postgres.js marks them with `severity`), however deeply wrapped. */
const postgresErrorOf = (error: unknown): PostgresErrorFields | undefined => {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ('severity' in current && typeof (current as PostgresErrorFields).code === 'string') return current as PostgresErrorFields;
  }
  return undefined;
};

/**
 * SQLSTATE classes an event's own content causes, which no retry heals: data exceptions (a value
 * out of range), integrity constraints, program limits (too many parameters). Everything else —
 * connections, a server shutting down or read-only, locks, serialization, a table missing while a
 * migration rolls out — is retried: an event answered 200 must outlast an outage.
 */
const DETERMINISTIC_SQLSTATE = /^(22|23|54)/;

/** An error whose message was written to hold no health data: kept as it is, with its fields. */
export class SafeJobError extends Error {
  override name = 'SafeJobError';
}

/**
 * The error a failed job is recorded with (logs, and BullMQ's `failedReason` kept in Redis for the
 * dead-letter queue). Database errors name their SQLSTATE and schema objects only, because
 * Drizzle's and Postgres's own messages quote the values, which are health data. Other errors keep
 * their message (a connection failure, a missing key id), and `UnrecoverableError` stays one so
 * retries still stop.
 */
export function toJobError(error: unknown): Error {
  if (error instanceof UnrecoverableError || error instanceof SafeJobError) return error;
  const pg = postgresErrorOf(error);
  if (pg) {
    const where = [pg.table_name, pg.column_name, pg.constraint_name].filter(Boolean).join(' ');
    const message = `Database error ${pg.code}${where ? ` on ${where}` : ''}`;
    return DETERMINISTIC_SQLSTATE.test(pg.code ?? '') ? new UnrecoverableError(`${message}: the event itself cannot be stored`) : new Error(message);
  }
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return cause instanceof Error ? new Error(`${cause.name}: ${cause.message}`) : new Error('Unknown failure while storing the event');
}
