import { once } from 'node:events';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { withDeadline } from './deadline.ts';

/** Where Redis is: one server (`url`), or a Redis Cluster reached through some of its nodes. */
export interface RedisTarget {
  url: string;
  /** `host:port` of cluster nodes; empty for a single server. */
  clusterNodes: string[];
}

/**
 * A connection to a single Redis or to a Redis Cluster: the same commands, queues and pub/sub.
 * Every key this service writes carries the queue prefix's `{hash tag}`, so the keys one command
 * or script touches always share a cluster slot.
 */
export type RedisClient = Redis | Cluster;

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
export function createRedis(target: RedisTarget, role: RedisRole, logger: { error(details: object, message: string): void }): RedisClient {
  const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2_000);
  const options: RedisOptions = { ...roleOptions[role], connectionName: `vapi-relay:${role}`, retryStrategy };
  const redis: RedisClient =
    target.clusterNodes.length > 0
      ? new Cluster(
          target.clusterNodes.map((node) => {
            const [host, port] = node.split(/:(?=\d+$)/);
            return { host: host!, port: Number(port) };
          }),
          { redisOptions: options, clusterRetryStrategy: retryStrategy, enableOfflineQueue: options.enableOfflineQueue ?? true },
        )
      : new Redis(target.url, options);
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
export async function waitUntilReady(redis: RedisClient, timeoutMs = 3_000): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return withDeadline(once(redis, 'ready'), timeoutMs, 'redis').then(
    () => true,
    () => false,
  );
}

/** Deletes every key under a prefix (a test's or a benchmark's queues and markers). Not for production data. */
export async function deleteKeysWithPrefix(redis: RedisClient, prefix: string): Promise<void> {
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await node.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}
