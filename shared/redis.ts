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

interface RedisLogger {
  error(details: object, message: string): void;
  info?(details: object, message: string): void;
}

/** How often, at most, a process says Redis is unreachable while it stays so. */
export const UNREACHABLE_LOG_INTERVAL_MS = 15_000;

/** Errors that mean Redis is not there (not a command's own failure): every connection and BullMQ object sees them at once. */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|Connection is closed|connect ETIMEDOUT/;
export const isUnreachable = (error: unknown) => error instanceof Error && (UNREACHABLE.test(error.message) || UNREACHABLE.test(String((error as { code?: unknown }).code)));

/** Where Redis is, as a log line names it: host:port, never the URL's password. */
export function describeTarget(target: RedisTarget): string {
  if (target.clusterNodes.length > 0) return `cluster ${target.clusterNodes.join(',')} (REDIS_CLUSTER_NODES)`;
  try {
    const url = new URL(target.url);
    return `${url.hostname}:${url.port || 6379} (REDIS_URL)`;
  } catch {
    return 'REDIS_URL';
  }
}

/**
 * The one account of an outage for the whole process: every connection, and every BullMQ queue,
 * worker and listener on their duplicates, fails on each reconnect attempt; instead of a line with a
 * stack each time, one line naming the address and what to set, at most every
 * UNREACHABLE_LOG_INTERVAL_MS, and one when it answers again.
 */
const outage = { target: undefined as string | undefined, loggedAt: 0 };

export function reportUnreachable(target: RedisTarget, error: Error, logger: RedisLogger): void {
  const where = describeTarget(target);
  if (outage.target === where && Date.now() - outage.loggedAt < UNREACHABLE_LOG_INTERVAL_MS) return;
  outage.target = where;
  outage.loggedAt = Date.now();
  logger.error({ redis: where, reason: error.message }, `Redis at ${where} is unreachable (${error.message}): start it, or point REDIS_URL (REDIS_CLUSTER_NODES for a cluster) at it; retrying`);
}

function reportReachable(target: RedisTarget, logger: RedisLogger): void {
  const where = describeTarget(target);
  if (outage.target !== where) return;
  outage.target = undefined;
  logger.info?.({ redis: where }, `Redis at ${where} answers again`);
}

/**
 * The `error` listener for a BullMQ object on `target`: an outage goes to the one account of it
 * (reportUnreachable); any other error is logged with its stack, as `message`.
 */
export const redisErrorHandler = (target: RedisTarget, logger: RedisLogger, details: object, message: string) => (error: Error) => {
  if (isUnreachable(error)) reportUnreachable(target, error, logger);
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
    if (isUnreachable(error)) return reportUnreachable(target, error, logger);
    // Anything else repeated on every reconnect attempt: each distinct one once.
    if (error.message === lastError) return;
    lastError = error.message;
    logger.error({ err: error, role }, 'redis connection error');
  });
  redis.on('ready', () => {
    lastError = '';
    reportReachable(target, logger);
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
