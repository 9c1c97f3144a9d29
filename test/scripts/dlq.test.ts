import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { eventsQueue } from '#shared/queues/events-queue';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '../../services/ingress/routes/webhook.ts';
import { cliEnvironment, runScript } from '../helpers/cli.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { openTestDatabase, truncateAll } from '../helpers/database.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

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

    const env = { ...cliEnvironment(config), NOTIFY_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}` };
    const dlq = (...args: string[]) => runScript('dlq.ts', args, env);

    expect((await dlq('list')).stdout).toMatch(/broken on purpose[\s\S]*1 dead letter\(s\)/);
    expect((await dlq('replay')).code).toBe(2);
    expect((await dlq('replay', '--queue', 'events', '--all')).stdout).toMatch(/replayed 1/);
    const [job] = await ingress.queues.events.getJobs(['waiting']);
    expect(job!.attemptsMade).toBe(0);
    await ingress.close();
    await deleteKeys(redis, config.queuePrefix);
  });
});
