import { openCatalogQueues } from '#shared/plugins/queues';
import { createRedis, describeTarget, redisErrorHandler, waitUntilReady, type RedisClient, type RedisTarget } from '#shared/redis';

/** How long a command waits for Redis before saying it does not answer. */
const CONNECT_WAIT_MS = 5_000;

/** What a command says of Redis's problems: one line each on stderr, no stack. */
const logger = { error: (_details: object, message: string) => console.error(`error: ${message}`) };

/** A command's Redis connection. */
export const commandRedis = (target: RedisTarget) => createRedis(target, 'worker', logger);

/** The catalog's queues for a command, an outage said once (with the connection's). */
export const commandQueues = (redis: RedisClient, target: RedisTarget, prefix: string) =>
  openCatalogQueues(redis, prefix, (error, queue) => redisErrorHandler(target, logger, { queue }, `queue ${queue}: ${error.message}`)(error));

/** Throws, naming the address and the variable, when Redis does not answer: a command would otherwise wait forever. */
export async function expectRedis(redis: RedisClient, target: RedisTarget): Promise<void> {
  if (!(await waitUntilReady(redis, CONNECT_WAIT_MS)))
    throw new Error(`Redis at ${describeTarget(target)} does not answer: start it, or point REDIS_URL at it`);
}
