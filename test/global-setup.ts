import { Redis } from 'ioredis';
import postgres from 'postgres';
import { migrateDatabase } from '#shared/db/migrate';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './helpers/environment.ts';

const HOW_TO_START = {
  postgres:
    'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or `docker compose up -d postgres`), or point TEST_DATABASE_URL at one',
  redis: 'start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379` (or `docker compose up -d redis`), or point TEST_REDIS_URL at one',
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

/** The keys in the test Redis database, counted by prefix (up to the first `:`): what a test left behind. */
async function keyPrefixes(): Promise<Map<string, number>> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  const prefixes = new Map<string, number>();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 1_000);
      for (const key of keys) {
        const prefix = key.split(':')[0]!;
        prefixes.set(prefix, (prefixes.get(prefix) ?? 0) + 1);
      }
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return prefixes;
}

const describePrefixes = (prefixes: Map<string, number>) => [...prefixes].map(([prefix, n]) => `${prefix} (${n})`).join(', ');

/**
 * Fails the run at once, naming the missing server, then brings the test database up to date; after
 * the run, fails it if test files left keys in Redis, naming their prefixes (each file deletes the
 * keys of its queue prefix: `integrationResources().reset`, `deleteKeys`). Keys there before the run
 * (another run's, on a shared database) are not counted.
 */
export default async function setup() {
  const name = new URL(TEST_DATABASE_URL).pathname.slice(1);
  if (name === 'vapi_relay') throw new Error('TEST_DATABASE_URL points at the application database; use a database of its own');
  if ((new URL(TEST_REDIS_URL).pathname.slice(1) || '0') === '0') {
    throw new Error("TEST_REDIS_URL points at Redis database 0, the application's; use a database of its own (the default is redis://127.0.0.1:6379/15)");
  }
  await Promise.all([checkPostgres(), checkRedis()]);
  await migrateDatabase(TEST_DATABASE_URL);
  const before = await keyPrefixes();
  return async function teardown() {
    const left = new Map([...(await keyPrefixes())].filter(([prefix]) => !before.has(prefix)));
    if (left.size === 0) return;
    // vitest reports an error thrown here but still exits 0: the exit code is set for CI to see.
    console.error(`tests left keys in Redis (${TEST_REDIS_URL}) under: ${describePrefixes(left)}; the test files using those prefixes must delete their keys`);
    process.exitCode = 1;
  };
}
