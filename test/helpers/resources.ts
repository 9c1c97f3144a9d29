import type { FastifyInstance } from 'fastify';
import { openTestDatabase, truncateAll } from './database.ts';
import { deleteKeys, openTestRedis } from './redis.ts';

/**
 * What an integration test file opens (a database pool, a Redis connection, the apps its tests
 * start) and one way to tidy up: `reset` after each test closes its apps, deletes its Redis keys
 * and empties the tables; `close` after the file.
 */
export function integrationResources() {
  const handle = openTestDatabase();
  const redis = openTestRedis();
  const apps: FastifyInstance[] = [];
  const closeApps = async () => {
    for (const app of apps.splice(0).reverse()) await app.close();
  };
  return {
    handle,
    redis,
    closeApps,
    /** Apps to close at the next reset, in reverse order of starting. */
    track<T extends FastifyInstance[]>(...started: T): T {
      apps.push(...started);
      return started;
    },
    async reset(queuePrefix: string) {
      await closeApps();
      await deleteKeys(redis, queuePrefix);
      await truncateAll(handle);
    },
    async close() {
      redis.disconnect();
      await handle.close();
    },
  };
}
