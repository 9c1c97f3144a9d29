import { eq, isNotNull, and } from 'drizzle-orm';
import type { Database } from '#shared/db/client';
import { notificationAttempts, notificationEndpoints } from '#shared/db/schema';

export type AttemptOutcome = 'delivered' | 'retry' | 'permanent' | 'disabled';

/** Records one delivery attempt: who, how it went, how long it took; never the body. */
export async function recordAttempt(
  db: Database,
  attempt: {
    notificationId: number;
    endpoint: string;
    attempt: number;
    statusCode: number | null;
    latencyMs: number;
    error: string | null;
    outcome: AttemptOutcome;
  },
): Promise<void> {
  await db.insert(notificationAttempts).values(attempt);
}

/**
 * Whether this notification already reached this endpoint: a job run again after the receiver
 * answered (its completion lost with Redis, say) must not deliver a second time.
 */
export async function deliveredBefore(db: Database, notificationId: number, endpoint: string): Promise<boolean> {
  const [row] = await db
    .select({ id: notificationAttempts.id })
    .from(notificationAttempts)
    .where(
      and(eq(notificationAttempts.notificationId, notificationId), eq(notificationAttempts.endpoint, endpoint), eq(notificationAttempts.outcome, 'delivered')),
    )
    .limit(1);
  return row !== undefined;
}

/** Why an endpoint is disabled, or null when it takes deliveries. */
export async function disabledReason(db: Database, url: string): Promise<string | null> {
  const [row] = await db
    .select({ reason: notificationEndpoints.disabledReason })
    .from(notificationEndpoints)
    .where(and(eq(notificationEndpoints.url, url), isNotNull(notificationEndpoints.disabledAt)));
  return row ? (row.reason ?? 'disabled') : null;
}

/** Stops deliveries to an endpoint until an operator re-enables it. */
export async function disableEndpoint(db: Database, url: string, reason: string): Promise<void> {
  const values = { disabledAt: new Date(), disabledReason: reason, updatedAt: new Date() };
  await db
    .insert(notificationEndpoints)
    .values({ url, ...values })
    .onConflictDoUpdate({ target: notificationEndpoints.url, set: values });
}
