import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createRedis, waitUntilReady, type RedisClient, type RedisRole, type RedisTarget } from '../redis.ts';

/** A process's Redis connections, one per role, opened on first use and closed with the app. */
export interface RedisConnections {
  /** Where they connect: for naming it in an outage (shared/redis.ts, redisErrorHandler). */
  readonly target: RedisTarget;
  /** Fail-fast: producers (queue adds, publishes, markers) answer in bounded time or throw. */
  readonly producer: RedisClient;
  /** Blocking-safe (retries forever): BullMQ workers and queue-event listeners. */
  readonly worker: RedisClient;
  /** Dedicated to pub/sub subscriptions. */
  readonly subscriber: RedisClient;
  /** A new blocking-safe connection for a reader that blocks it (BullMQ queue events); closed with the app. */
  dedicated(): RedisClient;
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisConnections;
  }
}

/**
 * Opens Redis once per process, by role, instead of once per feature. The producer connection is
 * a readiness check unless the service has another way to do its work (`ready: false`: the
 * ingress's spool); a service starts without Redis (and says so) rather than not at all.
 */
export const redisPlugin = fp(
  async (app: FastifyInstance, { target, ready = true }: { target: RedisTarget; ready?: boolean }) => {
    const opened = new Map<RedisRole, RedisClient>();
    const extra: RedisClient[] = [];
    const connection = (role: RedisRole) => {
      let redis = opened.get(role);
      if (!redis) {
        redis = createRedis(target, role, app.log);
        opened.set(role, redis);
      }
      return redis;
    };
    app.decorate('redis', {
      target,
      get producer() {
        return connection('producer');
      },
      get worker() {
        return connection('worker');
      },
      get subscriber() {
        return connection('subscriber');
      },
      dedicated() {
        const redis = createRedis(target, 'worker', app.log);
        extra.push(redis);
        return redis;
      },
    });
    if (ready) app.addReadinessCheck('redis', () => app.redis.producer.ping());
    // A moment for Redis at start-up, so the start-up line can say whether it answers (services/main.ts); an outage is logged once by createRedis.
    app.addHook('onReady', async () => {
      await waitUntilReady(app.redis.producer);
    });
    // Registered first, so it runs after every plugin that uses the connections has closed.
    app.addHook('onClose', async () => {
      for (const redis of [...opened.values(), ...extra]) redis.disconnect();
    });
  },
  { name: 'redis', dependencies: ['health'] },
);
