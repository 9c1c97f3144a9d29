import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from './environment.ts';

export const openTestRedis = () => new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });

/** Deletes every key under a test's queue prefix. */
export { deleteKeysWithPrefix as deleteKeys } from '#shared/redis';
