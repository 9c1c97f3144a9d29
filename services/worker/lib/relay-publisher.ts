import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { FieldCipher } from '#shared/crypto';
import { patientChannel } from '#shared/relay';
import type { RelayPublish } from './event-processor';

/**
 * Publishes relay events on the patient's channel, in order, in one round trip. Each message is
 * encrypted like a stored value (relays hold the same keys), so no health data crosses Redis in
 * clear. It logs instead of throwing: the events are committed, and relays refill from the outbox.
 */
export function createRelayPublisher(redis: Redis, cipher: FieldCipher, prefix: string, logger: FastifyBaseLogger): RelayPublish {
  return async (patientId, events) => {
    const channel = patientChannel(prefix, patientId);
    const pipeline = redis.pipeline();
    for (const event of events) pipeline.publish(channel, cipher.encryptJson(event));
    try {
      await pipeline.exec();
    } catch (error) {
      logger.warn({ err: error, sessionId: events[0]?.sessionId }, 'relay publish failed; relays will refill from the outbox');
    }
  };
}
