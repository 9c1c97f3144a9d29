import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createLogger } from '#shared/logger';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { createEventProcessor } from '../../services/worker/lib/event-processor.ts';
import { PrivateRedis } from '../faults/private-services.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { testConfig } from '../helpers/config.ts';
import { storeFor } from '../helpers/jobs.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, track, reset, close } = integrationResources();
let redis: PrivateRedis;
let admin: Redis;
let config: Config | undefined;

/** A Redis of the test's own that refuses every write, as one at `maxmemory` with `noeviction` does. */
beforeAll(async () => {
  redis = await PrivateRedis.create();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
}, 30_000);
afterEach(async () => {
  await admin.config('SET', 'maxmemory', '0');
  if (config) await reset(config.queuePrefix);
});
afterAll(async () => {
  admin.disconnect();
  await redis.destroy();
  await close();
});

const refuseWrites = () => admin.config('SET', 'maxmemory', '1');

/** A logger writing JSON lines into `lines`. */
function capture(lines: string[]) {
  return createLogger({ level: 'debug', service: 'test', pretty: false, destination: { write: (line: string) => void lines.push(line) } });
}

describe('logging a Redis refusal', () => {
  it('is one short line, the error name and message, without the command or its arguments', async () => {
    await refuseWrites();
    const refusal = (await admin.set('a-key', `sealed-${'x'.repeat(2_000)}`).catch((error: unknown) => error)) as Error & { command: { args: string[] } };
    expect(refusal.name).toBe('ReplyError');
    expect(refusal.command.args[1]).toContain('sealed-');

    const lines: string[] = [];
    const logger = capture(lines);
    logger.warn({ err: refusal }, 'refused');
    logger.warn({ err: new Error('the queue did not take it', { cause: refusal }) }, 'wrapped');
    const [direct, wrapped] = lines.map((line) => JSON.parse(line) as { err: Record<string, unknown> });
    expect(direct!.err).toEqual({ type: 'ReplyError', message: expect.stringMatching(/^OOM command not allowed/) });
    expect(wrapped!.err).toMatchObject({ type: 'Error', message: expect.stringMatching(/the queue did not take it: OOM command not allowed/) });
    for (const line of lines) {
      expect(line).not.toContain('sealed-');
      expect(line.length).toBeLessThan(1_000);
    }
    expect(lines[0]!.length).toBeLessThan(300);
  });

  it('from every lane, the spool drain, tool calls, the outbox dispatcher and the workers: no arguments, no sealed payload', async () => {
    config = testConfig({
      REDIS_URL: redis.url,
      NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/hooks',
      NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    });
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    // A call stored before Redis filled up: its outbox rows (a notification among them) wait for the dispatcher.
    const store = createEventProcessor({ db: handle.db, cipher, onCommit: () => {} });
    for (const body of realisticCall({ patientId: 'patient-oom' }).events) await store(storeFor(body, cipher));

    await refuseWrites();
    const lines: string[] = [];
    const logger = capture(lines);
    const [ingress, worker] = track(await buildIngressApp({ config, logger }), await buildWorkerApp({ config, logger }));
    await Promise.all([ingress.ready(), worker.ready()]);
    const post = (message: Record<string, unknown>) => {
      const raw = JSON.stringify({ message: { timestamp: Date.now(), call: { id: randomUUID() }, ...message } });
      return ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
    };
    await waitFor(() => ingress.redis.producer.status === 'ready');
    expect((await post({ type: 'status-update', status: 'in-progress' })).statusCode).toBe(200);
    expect((await post({ type: 'transcript', role: 'user', transcriptType: 'partial', transcript: 'my chest' })).statusCode).toBe(503);
    const tools = await post({ type: 'tool-calls', toolCallList: [{ id: 'tc-1', type: 'function', function: { name: 'lookup_order', arguments: {} } }] });
    expect(tools.json()).toEqual({ results: [{ toolCallId: 'tc-1', name: 'lookup_order', error: expect.any(String) }] });

    const messages = () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    const expected = [
      'Redis did not take the event in time: spooling it',
      'event could not be queued',
      'tool call unanswered',
      'spool drain paused: Redis does not take events yet',
      'outbox dispatch failed; the rows stay for the next sweep',
      'worker error',
    ];
    await waitFor(() => expected.every((message) => messages().includes(message)), 15_000);

    const refusals = lines.filter((line) => line.includes('OOM command not allowed'));
    expect(refusals.length).toBeGreaterThanOrEqual(expected.length);
    for (const line of refusals) {
      expect(line).not.toMatch(/"(command|args)"/);
      expect(line).not.toMatch(/v1\.[0-9a-f]{8}/);
      expect(line.length).toBeLessThan(600);
    }
  });
});
