import { UnrecoverableError } from 'bullmq';
import { databaseFailure, postgresErrorOf } from '#shared/db/failure';

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
 * dead-letter queue): `databaseFailure`'s words, which name no value. Other errors keep their
 * message (a connection failure, a missing key id), and `UnrecoverableError` stays one so retries
 * still stop.
 */
export function toJobError(error: unknown): Error {
  if (error instanceof UnrecoverableError || error instanceof SafeJobError) return error;
  const message = databaseFailure(error);
  if (DETERMINISTIC_SQLSTATE.test(postgresErrorOf(error)?.code ?? '')) return new UnrecoverableError(`${message}: the event itself cannot be stored`);
  return new Error(message);
}
