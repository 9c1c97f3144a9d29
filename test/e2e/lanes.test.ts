import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vapiEvents, vapiMessages, vapiSessions } from '#shared/db/schema';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { freePort } from '../faults/private-services.ts';
import { RoleProcess } from '../faults/role-process.ts';
import { realisticCall, toolCallsOf, type VapiBody } from '../fixtures/vapi-call.ts';
import { silentLogger, TEST_ENCRYPTION_KEY, testConfig } from '../helpers/config.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/environment.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { openClient, streamUrl, tokenFor, type TestClient } from '../relay/relay-harness.ts';

const { handle, redis, track, reset, close } = integrationResources();
const config = testConfig();
const notified: string[] = [];
const receiver = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    notified.push((JSON.parse(body) as { sessionId: string }).sessionId);
    response.writeHead(204).end();
  });
});
let lanes: { durable: RoleProcess; live: RoleProcess };
let webhookUrl: string;
let relayUrl: string;
let app: TestClient;

/** One worker process consuming `queues`, as production runs it: its own variables, its own port. */
async function workerProcess(run: string, queues: string, extra: Record<string, string>): Promise<RoleProcess> {
  const port = await freePort();
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: config.queuePrefix,
    DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_TOKEN: randomBytes(16).toString('hex'),
    WORKER_PORT: String(port),
    WORKER_QUEUES: queues,
    // Every process that dispatches the outbox fans notification intents out to these endpoints.
    NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/calls`,
    ...extra,
  };
  return new RoleProcess(run, 'worker', port, env, mkdtempSync(join(tmpdir(), 'vapi-relay-lanes-')));
}

async function post(body: VapiBody): Promise<Record<string, unknown>> {
  const raw = JSON.stringify(body);
  const response = await fetch(webhookUrl, { method: 'POST', headers: hmacHeaders(raw), body: raw });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** Job counts by queue from a worker process's own /metrics: who did the work. */
async function jobsDoneBy(worker: RoleProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${worker.url}/metrics`)).text();
  const done: Record<string, number> = {};
  for (const [, queue, count] of text.matchAll(/^vapi_relay_jobs_processed_total\{queue="([^"]+)"[^}]*\} (\d+)/gm))
    done[queue!] = (done[queue!] ?? 0) + Number(count);
  return done;
}

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  lanes = {
    durable: await workerProcess('lanes-durable', 'events,notifications', { NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}` }),
    // The live and tools lanes never sign a notification: no signing key here.
    live: await workerProcess('lanes-live', 'live, tools', {}),
  };
  await Promise.all([lanes.durable.start(), lanes.live.start()]);
  const [ingress, relay] = track(await buildIngressApp({ config, logger: silentLogger() }), await buildRelayApp({ config, logger: silentLogger() }));
  webhookUrl = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  await relay.listen({ host: '127.0.0.1', port: 0 });
  relayUrl = streamUrl(relay);
}, 90_000);
afterAll(async () => {
  app?.ws.terminate();
  for (const worker of Object.values(lanes)) await worker.destroy();
  await new Promise((resolve) => receiver.close(resolve));
  await reset(config.queuePrefix);
  await close();
});

describe('the durable lane and the live and tools lanes in processes of their own', () => {
  it("carry a call end to end: the patient's app sees it live, its tool call is answered, the report is stored", async () => {
    const patientId = `pat-${randomUUID().slice(0, 8)}`;
    app = await openClient(relayUrl, tokenFor(config, patientId));
    await waitFor(async () => ((await redis.pubsub('NUMSUB', `${config.queuePrefix}:relay:patient:${patientId}`)) as [string, number])[1] > 0);

    const call = realisticCall({ patientId, startMs: Date.now() });
    const inProgress = call.events.findIndex((event) => event.message.status === 'in-progress');
    const toolCall = toolCallsOf(call, 'tc-lanes', 'check_availability', { date: '2026-12-01' });
    for (const body of call.events.slice(0, inProgress + 1)) await post(body);
    const answer = await post(toolCall);
    expect(answer).toEqual({ results: [{ toolCallId: 'tc-lanes', name: 'check_availability', result: expect.stringContaining('"slots"') }] });
    for (const body of call.events.slice(inProgress + 1)) await post(body);

    await waitFor(() => app.received.some((m) => m.type === 'session_end'), 15_000);
    const seen = (type: string, data: Record<string, unknown> = {}) =>
      app.received.some(
        (m) =>
          m.type === type && m.sessionId === call.callId && Object.entries(data).every(([key, value]) => (m.data as Record<string, unknown>)[key] === value),
      );
    expect(seen('session_status', { status: 'in-progress' })).toBe(true);
    expect(seen('transcript', { final: false })).toBe(true);
    expect(seen('transcript', { final: true })).toBe(true);
    expect(seen('speech')).toBe(true);
    expect(seen('function_call', { name: 'check_availability', status: 'completed' })).toBe(true);

    const [session] = await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, call.callId));
    expect(session).toMatchObject({ status: 'completed', patientId, endedReason: 'customer-ended-call' });
    expect(session!.transcriptSummary).toMatch(/^v1\./);
    expect(await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, call.callId))).toHaveLength(4);
    expect((await handle.db.select().from(vapiEvents).where(eq(vapiEvents.sessionId, call.callId))).map((row) => row.type)).toContain('end-of-call-report');
    await waitFor(() => notified.includes(call.callId));

    // Each lane's work was done by its own process, and by no other (the delivery's job ends just after the receiver answers).
    const durable = await waitFor(async () => {
      const done = await jobsDoneBy(lanes.durable);
      return 'vapi-notifications' in done && done;
    });
    expect(Object.keys(durable).sort()).toEqual(['vapi-events', 'vapi-notifications']);
    expect(Object.keys(await jobsDoneBy(lanes.live)).sort()).toEqual(['vapi-live', 'vapi-tools']);

    // Each stops cleanly on SIGTERM, as a deploy stops it.
    for (const worker of Object.values(lanes)) expect((await worker.stop('SIGTERM')).code).toBe(0);
  });
});
