import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { eventsQueue } from '#shared/queues/events-queue';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '../../services/ingress/routes/webhook.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/environment.ts';
import { openTestDatabase, truncateAll } from '../helpers/database.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const handle = openTestDatabase();
const redis = openTestRedis();

afterAll(async () => {
  await truncateAll(handle);
  redis.disconnect();
  await handle.close();
});

describe('npm run dlq', () => {
  it('lists the dead letters and replays them with a fresh attempt budget', async () => {
    const config = testConfig();
    const ingress = await buildIngressApp({ config, logger: silentLogger() });
    const raw = JSON.stringify({ message: { type: 'hang', timestamp: Date.now(), call: { id: `call-${randomUUID()}`, orgId: 'org' } } });
    await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
    const failing = new Worker(eventsQueue.name, async () => {
      throw new UnrecoverableError('broken on purpose');
    }, { connection: redis, prefix: config.queuePrefix });
    await waitFor(async () => (await ingress.queues.events.getFailed()).length === 1);
    await failing.close();

    const env = {
      PATH: process.env.PATH,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: config.queuePrefix,
      DATA_ENCRYPTION_KEY: config.dataEncryptionKeys.map((key) => key.toString('base64')).join(','),
      ADMIN_TOKEN: config.adminToken,
      NOTIFY_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
    };
    const dlq = (...args: string[]) => run(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'scripts/dlq.ts'), ...args], { cwd: mkdtempSync(join(tmpdir(), 'dlq-')), env });

    expect((await dlq('list')).stdout).toMatch(/broken on purpose[\s\S]*1 dead letter\(s\)/);
    await expect(dlq('replay')).rejects.toMatchObject({ code: 2 });
    expect((await dlq('replay', '--queue', 'events', '--all')).stdout).toMatch(/replayed 1/);
    const [job] = await ingress.queues.events.getJobs(['waiting']);
    expect(job!.attemptsMade).toBe(0);
    await ingress.close();
    await deleteKeys(redis, config.queuePrefix);
  });
});
