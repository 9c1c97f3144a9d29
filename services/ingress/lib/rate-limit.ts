import type { RedisClient } from '#shared/redis';

const WINDOW_S = 60;

/** Blocked IPs remembered at once; past it, expired entries are swept before adding another. */
const MAX_BLOCKED = 10_000;

/**
 * Per-IP counters in fixed one-minute windows, kept in Redis so every ingress replica counts
 * against the same budget. `count` increments and sets the window's expiry in one round trip; an IP
 * whose count reached the budget is remembered here until its window ends, so `exceeded` answers
 * without a round trip (a request that is not over budget, nearly all of them, costs Redis
 * nothing). Another replica learns of a spent budget at that IP's next failure there, which `count`
 * answers with the wait at once. A Redis error lets the request through: the limiter must never be
 * what refuses a real event.
 */
export function createRateLimiter(redis: RedisClient, prefix: string, name: string, perMinute: number) {
  const windowOf = (now: number) => Math.floor(now / 1000 / WINDOW_S);
  const key = (ip: string, window: number) => `${prefix}:ratelimit:${name}:${window}:${ip}`;
  /** Seconds until the current window ends, for Retry-After. */
  const retryAfter = (now: number) => String(WINDOW_S - (Math.floor(now / 1000) % WINDOW_S));
  /** IP → when its window ends (epoch ms), for the IPs whose budget is spent. */
  const blocked = new Map<string, number>();

  function block(ip: string, now: number) {
    if (blocked.size >= MAX_BLOCKED) for (const [other, until] of blocked) if (until <= now) blocked.delete(other);
    blocked.set(ip, (windowOf(now) + 1) * WINDOW_S * 1000);
  }

  return {
    enabled: perMinute > 0,
    /** Seconds to wait when `ip` has used up this window's budget, else null. */
    exceeded(ip: string, now = Date.now()): string | null {
      const until = blocked.get(ip);
      if (until === undefined) return null;
      if (until > now) return retryAfter(now);
      blocked.delete(ip);
      return null;
    },
    /** Counts one request of `ip`; returns the seconds to wait when this one went over budget. */
    async count(ip: string, now = Date.now()): Promise<string | null> {
      if (perMinute <= 0 || redis.status !== 'ready') return null;
      const k = key(ip, windowOf(now));
      const results = await redis
        .multi()
        .incr(k)
        .expire(k, WINDOW_S * 2)
        .exec()
        .catch(() => null);
      const used = Number(results?.[0]?.[1] ?? 0);
      if (used >= perMinute) block(ip, now);
      return used > perMinute ? retryAfter(now) : null;
    },
  };
}
