import { randomBytes, randomUUID } from 'node:crypto';
import { createHmac } from 'node:crypto';
import { loadConfig, type Config } from '#shared/config';
import { createLogger } from '#shared/logger';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';

/** The bench's own database: never the one `npm start` or the tests use. */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vapi_relay_bench';

/** Environment variables for a bench run's services: fresh secrets and a fresh queue prefix. */
export function benchEnvironment(): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: BENCH_DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `{bench-${randomUUID().slice(0, 8)}}`,
    VAPI_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
    RELAY_JWT_SECRET: randomBytes(24).toString('hex'),
    DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ADMIN_TOKEN: randomBytes(16).toString('hex'),
  };
}

export const benchConfig = (env = benchEnvironment()): Config => loadConfig(env);

export const silentLogger = createLogger({ level: 'silent', service: 'bench', pretty: false });

/** Deletes everything a bench run wrote to Redis: every key under its queue prefix. */
export async function deleteBenchKeys(config: Config): Promise<void> {
  const redis = createRedis(config.redis, 'worker', silentLogger);
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();
}

/** Headers of a body signed the way the ingress verifies by default (hex HMAC-SHA256 of the raw bytes). */
export const signedHeaders = (secret: string, body: string) => ({
  'content-type': 'application/json',
  'x-vapi-signature': createHmac('sha256', secret).update(body).digest('hex'),
});

/** A Vapi transcript of a bench call: `final` or `partial`, its text tagged with `tag` so a receiver can match it. */
export function transcriptBody(callId: string, tag: string, final: boolean, patientId?: string) {
  return JSON.stringify({
    message: {
      type: 'transcript',
      role: 'user',
      transcriptType: final ? 'final' : 'partial',
      transcript: `[${tag}] I would like to book a follow-up visit next Tuesday morning if possible.`,
      timestamp: Date.now(),
      call: {
        id: callId,
        orgId: 'org-bench',
        type: 'inboundPhoneCall',
        customer: { number: '+15550100000' },
        ...(patientId ? { metadata: { patientId } } : {}),
      },
    },
  });
}

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

/** Median and p99 of latencies in ms. */
export function summarise(latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

export const ms = (n: number) => `${n.toFixed(2)} ms`;
export const ratio = (n: number) => `${n.toFixed(2)} ×`;
