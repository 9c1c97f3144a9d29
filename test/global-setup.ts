import { Redis } from 'ioredis';
import postgres from 'postgres';
import { migrateDatabase } from '#shared/db/migrate';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './helpers/environment.ts';

const HOW_TO_START = {
  postgres:
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or `docker compose up -d postgres`), or point TEST_DATABASE_URL at one",
  redis:
    'start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379` (or `docker compose up -d redis`), or point TEST_REDIS_URL at one',
};

async function checkPostgres() {
  const admin = new URL(TEST_DATABASE_URL);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${admin.host} (${(error as Error).message}): ${HOW_TO_START.postgres}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function checkRedis() {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis is not reachable at ${TEST_REDIS_URL} (${(error as Error).message}): ${HOW_TO_START.redis}`);
  } finally {
    redis.disconnect();
  }
}

/** Fails the run at once, naming the missing server, then brings the test database up to date. */
export default async function setup() {
  const name = new URL(TEST_DATABASE_URL).pathname.slice(1);
  if (name === 'vapi_relay') throw new Error('TEST_DATABASE_URL points at the application database; use a database of its own');
  await Promise.all([checkPostgres(), checkRedis()]);
  await migrateDatabase(TEST_DATABASE_URL);
}
