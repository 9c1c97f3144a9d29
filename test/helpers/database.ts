import { createDatabase, type DatabaseHandle } from '#shared/db/client';
import { TEST_DATABASE_URL } from './environment.ts';

export const openTestDatabase = (): DatabaseHandle => createDatabase(TEST_DATABASE_URL, { max: 4 });

/** Empties every table, so each test starts from nothing. */
export async function truncateAll(handle: DatabaseHandle): Promise<void> {
  await handle.sql`truncate session_events, vapi_messages, vapi_events, vapi_sessions, patients, notification_outbox, notification_attempts, notification_endpoints, tool_calls, appointments, appointment_slots, providers, health_records, orders, admin_actions restart identity cascade`;
}
