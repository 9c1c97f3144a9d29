import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { notificationOutbox } from '#shared/db/schema';
import { JobCodec } from '#shared/queues/codec';
import { eventsQueue } from '#shared/queues/events-queue';
import { notificationJobId, notificationsQueue } from '#shared/queues/notifications-queue';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { createOutboxDispatcher } from '../../services/worker/lib/outbox-dispatcher.ts';
import { cliEnvironment, runScript } from '../helpers/cli.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { openQueue } from '../helpers/queues.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, reset, close, track } = integrationResources();
const config = testConfig();
const cipher = new FieldCipher(config.dataEncryptionKeys);
const codec = new JobCodec(cipher);
const env = { ...cliEnvironment(config), NOTIFY_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}` };
const dlq = (args: string[], extra: Record<string, string> = {}) => runScript('dlq.ts', args, { ...env, ...extra });

afterEach(() => reset(config.queuePrefix));
afterAll(close);

/** Fails every job of `queue` for good until `count` are in its failed set. */
async function failAll(name: string, count: number) {
  const queue = openQueue({ name } as typeof eventsQueue, redis, config.queuePrefix);
  const failing = new Worker(
    name,
    async () => {
      throw new UnrecoverableError('broken on purpose');
    },
    { connection: redis, prefix: config.queuePrefix },
  );
  await waitFor(async () => (await queue.getFailedCount()) === count);
  await failing.close();
  await queue.close();
}

/** An event dead-lettered through the real ingress; returns its job id. */
async function deadEvent() {
  const [ingress] = track(await buildIngressApp({ config, logger: silentLogger() }));
  const raw = JSON.stringify({ message: { type: 'hang', timestamp: Date.now(), call: { id: `call-${randomUUID()}`, orgId: 'org' } } });
  await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
  await failAll(eventsQueue.name, 1);
  const [job] = await ingress.queues.events.getFailed();
  return { ingress, id: job!.id! };
}

/** A notification to `endpoint`, dead-lettered, with its outbox row marked sent as the dispatcher leaves it. */
async function deadNotification(endpoint: string) {
  const body = { type: 'session.ended', sessionId: `call-${randomUUID()}`, patientId: null, timestamp: new Date().toISOString(), data: { status: 'ended' } };
  const [row] = await handle.db
    .insert(notificationOutbox)
    .values({ sessionId: body.sessionId, type: body.type, occurredAt: new Date(body.timestamp), data: cipher.encryptJson(body.data), dispatchedAt: new Date() })
    .returning();
  const queue = openQueue(notificationsQueue, redis, config.queuePrefix);
  const meta = { notificationId: row!.id, type: body.type, sessionId: body.sessionId, endpoint };
  await queue.add(body.type, codec.seal(notificationsQueue, meta, body), { jobId: notificationJobId(row!.id, endpoint) });
  await failAll(notificationsQueue.name, 1);
  return { queue, row: row!, jobId: notificationJobId(row!.id, endpoint) };
}

describe('npm run dlq', () => {
  it('lists dead letters with their full ids, as a table or as JSON, and replays one by the id listed', async () => {
    const { ingress, id } = await deadEvent();
    const listed = await dlq(['list']);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(/^QUEUE +ID +NAME +ATTEMPTS +FAILED AT +ERROR\n/);
    expect(listed.stdout).toContain(` ${id} `);
    expect(listed.stdout).toMatch(/broken on purpose[\s\S]*1 dead letter\(s\)/);
    const json = await dlq(['list', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ queue: 'events', id, name: 'hang', error: 'broken on purpose' })]);

    expect(JSON.parse((await dlq(['show', id])).stdout)).toMatchObject({ queue: 'events', id, seal: 'bound' });
    expect(await dlq(['replay', id])).toMatchObject({ code: 0, stdout: 'replayed 1\n' });
    const [job] = await ingress.queues.events.getJobs(['waiting']);
    expect(job).toMatchObject({ id, attemptsMade: 0 });
  });

  it('says so, exits 1 and does nothing for an id that is no dead letter', async () => {
    const { ingress, id } = await deadEvent();
    expect(await dlq(['show', 'no-such-id'])).toMatchObject({ code: 1, stdout: '', stderr: 'error: no job no-such-id in any queue\n' });
    expect(await dlq(['show', '--queue', 'tools', '--id', id])).toMatchObject({ code: 1, stderr: `error: no job ${id} in queue tools\n` });
    for (const result of await Promise.all(['replay', 'purge'].map((command) => dlq([command, id, 'no-such-id'])))) {
      expect(result).toMatchObject({ code: 1, stdout: '', stderr: 'error: no dead letter no-such-id in any queue\n' });
    }
    expect(await ingress.queues.events.getFailedCount()).toBe(1);
  });

  it('answers --help, and names an unknown flag, command or missing value with the usage, exit 2', async () => {
    const help = await dlq(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^usage: npm run dlq -- <command>[\s\S]*NOTIFY_WEBHOOK_URL/);
    expect((await dlq(['replay', '-h'])).stdout).toBe(help.stdout);
    const cases: [string[], RegExp][] = [
      [['list', '--bogus'], /^npm run dlq: unknown option --bogus\n/],
      [['lst'], /^npm run dlq: unknown command lst\n/],
      [[], /^npm run dlq: no command given\n/],
      [['show', '--id'], /^npm run dlq: --id needs a value\n/],
      [['replay'], /^npm run dlq: replay needs ids, a filter or --all\n/],
      [['list', '--queue', 'nope'], /^npm run dlq: unknown queue nope\n/],
      [['replay', '--all', '--endpoint', 'ftp://x'], /^npm run dlq: --endpoint must be an http\(s\) URL/],
    ];
    const results = await Promise.all(cases.map(([args]) => dlq(args)));
    for (const [index, [args, message]] of cases.entries()) {
      const result = results[index]!;
      expect(result, args.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain('usage: npm run dlq');
      expect(result.stderr).not.toMatch(/\n +at /);
    }
  }, 60_000);

  it('replays a notification to the endpoints configured now, not the one it was first queued for', async () => {
    const { queue, row, jobId } = await deadNotification('https://old.example/hook');
    expect(await dlq(['replay', jobId])).toMatchObject({ code: 0, stdout: 'replayed 1\n' });
    expect(await queue.getFailedCount()).toBe(0);
    // Back in the outbox: the worker's dispatcher sends it to its NOTIFY_WEBHOOK_URL entries.
    const now = ['https://new.example/hook', 'https://second.example/hook'];
    const dispatcher = createOutboxDispatcher({
      db: handle.db,
      redis,
      cipher,
      codec,
      notifications: queue,
      endpoints: now,
      prefix: config.queuePrefix,
      logger: silentLogger(),
    });
    await dispatcher.dispatchOnce();
    const jobs = await queue.getJobs(['waiting', 'delayed']);
    expect(jobs.map((job) => job.data.endpoint).sort()).toEqual(now);
    expect(jobs.map((job) => job.id).sort()).toEqual(now.map((endpoint) => notificationJobId(row.id, endpoint)).sort());
    await queue.close();
  });

  it('replays a notification to --endpoint URL, re-sealed to it', async () => {
    const { queue, row, jobId } = await deadNotification('https://old.example/hook');
    expect(await dlq(['replay', '--queue', 'notifications', '--id', jobId, '--endpoint', 'https://fixed.example/hook'])).toMatchObject({ code: 0 });
    const [job] = await queue.getJobs(['waiting']);
    expect(job).toMatchObject({
      id: notificationJobId(row.id, 'https://fixed.example/hook'),
      data: expect.objectContaining({ endpoint: 'https://fixed.example/hook' }),
    });
    expect(codec.open(notificationsQueue, job!.data).payload).toMatchObject({ type: 'session.ended', sessionId: row.sessionId });
    expect(await queue.getFailedCount()).toBe(0);
    await queue.close();
  });
});
