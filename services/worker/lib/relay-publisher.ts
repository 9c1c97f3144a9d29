import type { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { patientChannel } from '#shared/relay';
import type { RelayPublish } from './event-processor';

/** Publishes relay events on the patient's channel, in order, in one round trip; logs instead of throwing. */
export function createRelayPublisher(redis: Redis, prefix: string, logger: FastifyBaseLogger): RelayPublish {
  return async (patientId, events) => {
    const channel = patientChannel(prefix, patientId);
    const pipeline = redis.pipeline();
    for (const event of events) pipeline.publish(channel, JSON.stringify(event));
    try {
      await pipeline.exec();
    } catch (error) {
      logger.warn({ err: error, sessionId: events[0]?.sessionId }, 'relay publish failed; relays will refill from the outbox');
    }
  };
}
