import type { RedisClient } from '#shared/redis';

const WINDOW_S = 60;

/**
 * Per-IP counters in fixed one-minute windows, kept in Redis so every ingress replica sees the same
 * counts. `exceeded` reads; `count` increments and sets the window's expiry in one round trip.
 * A Redis error lets the request through: the limiter must never be what refuses a real event.
 */
export function createRateLimiter(redis: RedisClient, prefix: string, name: string, perMinute: number) {
  const windowOf = (now: number) => Math.floor(now / 1000 / WINDOW_S);
  const key = (ip: string, window: number) => `${prefix}:ratelimit:${name}:${window}:${ip}`;
  /** Seconds until the current window ends, for Retry-After. */
  const retryAfter = (now: number) => String(WINDOW_S - (Math.floor(now / 1000) % WINDOW_S));

  return {
    enabled: perMinute > 0,
    /** Seconds to wait when `ip` has used up this window's budget, else null. */
    async exceeded(ip: string, now = Date.now()): Promise<string | null> {
      if (perMinute <= 0 || redis.status !== 'ready') return null;
      const used = Number((await redis.get(key(ip, windowOf(now))).catch(() => null)) ?? 0);
      return used >= perMinute ? retryAfter(now) : null;
    },
    /** Counts one request of `ip`; returns the seconds to wait when this one went over budget. */
    async count(ip: string, now = Date.now()): Promise<string | null> {
      if (perMinute <= 0 || redis.status !== 'ready') return null;
      const k = key(ip, windowOf(now));
      const results = await redis.multi().incr(k).expire(k, WINDOW_S * 2).exec().catch(() => null);
      const used = Number(results?.[0]?.[1] ?? 0);
      return used > perMinute ? retryAfter(now) : null;
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
