import type { Redis } from 'ioredis';

/** Every key under `prefix` with what it holds (strings, hashes, lists, sets, sorted sets, streams), as one could read it from Redis. */
export async function redisContents(redis: Redis, prefix: string): Promise<Record<string, unknown>> {
  const contents: Record<string, unknown> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string') contents[key] = await redis.get(key);
      else if (type === 'hash') contents[key] = await redis.hgetall(key);
      else if (type === 'list') contents[key] = await redis.lrange(key, 0, -1);
      else if (type === 'set') contents[key] = await redis.smembers(key);
      else if (type === 'zset') contents[key] = await redis.zrange(key, 0, -1);
      else if (type === 'stream') contents[key] = await redis.xrange(key, '-', '+');
    }
  } while (cursor !== '0');
  return contents;
}
