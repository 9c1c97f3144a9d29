import type { RedisClient } from '#shared/redis';
import type { FieldCipher } from '#shared/crypto';
import { callBindingKey, patientChannel, type LiveRelayEvent } from '#shared/relay';

export type LiveOutcome = 'relayed' | 'unbound';

/**
 * Publishes a live-only event to the patient its call is bound to. The binding comes from Redis,
 * written by the durable lane's dispatcher: the live lane never waits for Postgres or a session
 * lock, and an event of a call whose patient is unknown reaches no channel at all.
 */
export function createLiveRelay({ redis, cipher, prefix }: { redis: RedisClient; cipher: FieldCipher; prefix: string }) {
  return async function relay(event: LiveRelayEvent): Promise<LiveOutcome> {
    const patientId = await redis.get(callBindingKey(prefix, event.sessionId));
    if (!patientId) return 'unbound';
    await redis.publish(patientChannel(prefix, patientId), cipher.encryptJson(event));
    return 'relayed';
  };
}
