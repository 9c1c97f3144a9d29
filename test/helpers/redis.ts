import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from './environment';

export const openTestRedis = () => new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });

/** Deletes every key under a test's queue prefix. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
