import { once } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { withDeadline } from './deadline.ts';

/**
 * Why a connection exists decides how it behaves when Redis is slow or gone:
 * - `producer` fails fast (no offline queue, one retry) so the ingress can answer 503 instead of hanging;
 * - `worker` retries forever, as BullMQ requires for blocking commands;
 * - `subscriber` is dedicated to pub/sub and reconnects forever.
 */
export type RedisRole = 'producer' | 'worker' | 'subscriber';

const roleOptions: Record<RedisRole, RedisOptions> = {
  producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000, connectTimeout: 2_000 },
  worker: { maxRetriesPerRequest: null },
  subscriber: { maxRetriesPerRequest: null },
};

/** Opens a Redis connection for one role; errors are logged (never thrown from the event emitter). */
export function createRedis(url: string, role: RedisRole, logger: { error(details: object, message: string): void }): Redis {
  const redis = new Redis(url, {
    ...roleOptions[role],
    connectionName: `vapi-relay:${role}`,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let lastError = '';
  redis.on('error', (error: Error) => {
    // A dead server repeats the same error on every reconnect attempt: log each distinct one once.
    if (error.message === lastError) return;
    lastError = error.message;
    logger.error({ err: error, role }, 'redis connection error');
  });
  redis.on('ready', () => {
    lastError = '';
  });
  return redis;
}

/**
 * Resolves true once the connection is ready, or false after `timeoutMs`: for start-up, where a
 * service would rather come up without Redis (and say so) than not come up at all.
 */
export async function waitUntilReady(redis: Redis, timeoutMs = 3_000): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return withDeadline(once(redis, 'ready'), timeoutMs, 'redis').then(
    () => true,
    () => false,
  );
}

/** Deletes every key under a prefix (a test's or a benchmark's queues and markers). Not for production data. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
