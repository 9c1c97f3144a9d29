import type { RedisClient } from '#shared/redis';
import type { FieldCipher } from '#shared/crypto';
import type { LiveJobPayload } from '#shared/queues/live-queue';
import { callBindingKey, patientChannel } from '#shared/relay';
import { openBinding, sealForPatient } from '#shared/relay-messages';

/** `relayed`: to the patient the durable lane bound; `claimed`: to the one the event names; `unbound`: to nobody. */
export type LiveOutcome = 'relayed' | 'claimed' | 'unbound';

/**
 * Publishes a live-only event to its call's patient (docs/relay.md, "Protocol") without waiting for
 * Postgres or a session lock: the patient the durable lane bound the call to (a Redis key its
 * dispatcher writes, sealed to the call: one that does not open for it is none), which always wins;
 * before that binding exists, the patient the event's own signed `call.metadata.patientId` names,
 * the claim the durable lane binds by, so the first words of a call are shown. An event with
 * neither reaches no channel at all: a binding by the caller's number takes a look-up only the
 * durable lane makes, and is never guessed here.
 */
export function createLiveRelay({ redis, cipher, prefix }: { redis: RedisClient; cipher: FieldCipher; prefix: string }) {
  return async function relay({ event, claimedPatientId }: LiveJobPayload): Promise<LiveOutcome> {
    const bound = openBinding(cipher, event.sessionId, await redis.get(callBindingKey(prefix, event.sessionId)));
    const patientId = bound ?? claimedPatientId;
    if (!patientId) return 'unbound';
    await redis.publish(patientChannel(prefix, patientId), sealForPatient(cipher, patientId, event));
    return bound ? 'relayed' : 'claimed';
  };
}
