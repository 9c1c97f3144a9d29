import { sql } from 'drizzle-orm';
import type { Transaction } from '#shared/db/client';
import { vapiEvents } from '#shared/db/schema';
import { textArray } from '#shared/db/text-array';

/** One event as the event log keeps it: under its dedup id, its raw body sealed. */
export interface EventLogRow {
  id: string;
  sessionId: string | null;
  type: string;
  occurredAt: Date | null;
  receivedAt: Date;
  payload: string;
}

/**
 * Records events under their ids and returns the ids recorded now: an id recorded before (a
 * redelivery) is not among them, and its event does nothing more: Vapi retries, and a dead letter
 * may be replayed. Rows go in id order, so two transactions recording the same redelivered events
 * wait for each other, never in a cycle.
 */
export async function recordEvents(tx: Transaction, rows: EventLogRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx.execute<{ id: string }>(sql`
    insert into ${vapiEvents} (id, session_id, type, occurred_at, received_at, payload)
    select e.id, e.session_id, e.type, e.occurred_at::timestamptz, e.received_at::timestamptz, e.payload
    from unnest(
      ${textArray(rows.map((row) => row.id))}, ${textArray(rows.map((row) => row.sessionId))}, ${textArray(rows.map((row) => row.type))},
      ${textArray(rows.map((row) => row.occurredAt?.toISOString() ?? null))}, ${textArray(rows.map((row) => row.receivedAt.toISOString()))},
      ${textArray(rows.map((row) => row.payload))}
    ) as e(id, session_id, type, occurred_at, received_at, payload)
    order by e.id
    on conflict do nothing
    returning id`);
  return new Set(inserted.map((row) => row.id));
}
