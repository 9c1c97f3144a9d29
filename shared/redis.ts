import { once } from 'node:events';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { withDeadline } from './deadline.ts';
import { isUnreachable, outageLog } from './outage.ts';

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

interface RedisLogger {
  error(details: object, message: string): void;
  info?(details: object, message: string): void;
}

/** Where Redis is, as a log line names it: host:port and the variable, never the URL's password. */
export function describeTarget(target: RedisTarget): string {
  if (target.clusterNodes.length > 0) return `cluster ${target.clusterNodes.join(',')} (REDIS_CLUSTER_NODES)`;
  try {
    const url = new URL(target.url);
    return `${url.hostname}:${url.port || 6379} (REDIS_URL)`;
  } catch {
    return 'REDIS_URL';
  }
}

/** One account per Redis address of the process: its connections, and BullMQ's duplicates of them, all fail on each retry. */
const outages = new Map<string, ReturnType<typeof outageLog>>();
const outageOf = (target: RedisTarget) => {
  const where = describeTarget(target);
  let log = outages.get(where);
  if (!log) {
    log = outageLog(`Redis at ${where}`, 'start it, or point REDIS_URL (REDIS_CLUSTER_NODES for a cluster) at it');
    outages.set(where, log);
  }
  return log;
};

/**
 * The `error` listener for a BullMQ object on `target`: an outage goes to the one account of it
 * (shared/outage.ts); any other error is logged with its stack, as `message`.
 */
export const redisErrorHandler = (target: RedisTarget, logger: RedisLogger, details: object, message: string) => (error: Error) => {
  if (isUnreachable(error)) outageOf(target).unreachable(error, logger);
  else logger.error({ err: error, ...details }, message);
};

/** Opens a Redis connection for one role; errors are logged (never thrown from the event emitter). */
export function createRedis(target: RedisTarget, role: RedisRole, logger: RedisLogger): RedisClient {
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
    if (isUnreachable(error)) return outageOf(target).unreachable(error, logger);
    // Anything else repeated on every reconnect attempt: each distinct one once.
    if (error.message === lastError) return;
    lastError = error.message;
    logger.error({ err: error, role }, 'redis connection error');
  });
  redis.on('ready', () => {
    lastError = '';
    outageOf(target).reachable(logger);
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
