import type { DatabaseHandle } from '#shared/db/client';

const CONSTRAINT = 'test_refuses_one_event';

/**
 * Makes Postgres refuse the message row of one event (a check constraint on its event id), the
 * way it refuses a value it cannot hold: the smallest seam that fails one event deterministically,
 * for tests of what its neighbours go through. Returns what lifts it again.
 */
export async function refuseMessagesOf(handle: DatabaseHandle, eventId: string): Promise<() => Promise<void>> {
  // Event ids are digests (or a delivery id the ingress checked): nothing here needs quoting, and a test passing more is wrong.
  if (!/^[\w.:-]+$/.test(eventId)) throw new Error('refuseMessagesOf takes an event id');
  const lift = async () => {
    await handle.sql.unsafe(`alter table vapi_messages drop constraint if exists ${CONSTRAINT}`);
  };
  await lift();
  await handle.sql.unsafe(`alter table vapi_messages add constraint ${CONSTRAINT} check (event_id <> '${eventId}')`);
  return lift;
}
