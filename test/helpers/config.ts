import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '#shared/config';
import { createLogger } from '#shared/logger';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './environment.ts';

export const TEST_WEBHOOK_SECRET = 'test-webhook-secret-6f1c2a';
/** Fixed for the whole run so rows written by one test can be read by another part of it. */
export const TEST_ENCRYPTION_KEY = randomBytes(32).toString('base64');

/** A fresh `{hash-tag}` queue prefix, so each test has queues of its own in the shared Redis. */
export const uniquePrefix = () => `{test-${randomUUID().slice(0, 8)}}`;

/** The config a test service runs with: test servers, a unique queue prefix, known secrets. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniquePrefix(),
    PORT: '0',
    RELAY_PORT: '0',
    WORKER_PORT: '0',
    VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    RELAY_JWT_SECRET: 'test-relay-jwt-secret-0b5e9d',
    DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_TOKEN: 'test-admin-token-77a1c3',
    // One spool per ingress: tests run many side by side.
    SPOOL_DIR: join(tmpdir(), `vapi-relay-spool-${randomUUID().slice(0, 8)}`),
    ...overrides,
  });
}

export const silentLogger = () => createLogger({ level: 'silent', service: 'test', pretty: false });
