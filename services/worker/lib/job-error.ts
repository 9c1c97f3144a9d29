import { UnrecoverableError } from 'bullmq';
import { databaseErrorSummary, postgresErrorOf } from '#shared/db/errors';

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
  const message = databaseErrorSummary(error);
  if (message) {
    const deterministic = DETERMINISTIC_SQLSTATE.test(postgresErrorOf(error)?.code ?? '');
    return deterministic ? new UnrecoverableError(`${message}: the event itself cannot be stored`) : new Error(message);
  }
  return error instanceof Error ? new Error(`${error.name}: ${error.message}`) : new Error('Unknown failure while storing the event');
}
