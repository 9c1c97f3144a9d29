import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { sessionEvents, vapiSessions } from '#shared/db/schema';
import { patientChannel } from '#shared/relay';
import { openForPatient } from '#shared/relay-messages';
import { createLogger } from '#shared/logger';
import { serviceNameFor, startTracing } from '#shared/tracing';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { freePort } from '../faults/private-services.ts';
import { FAULT_ARTIFACTS, RoleProcess } from '../faults/role-process.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, TEST_ENCRYPTION_KEY, TEST_WEBHOOK_SECRET, testConfig } from '../helpers/config.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/environment.ts';
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { openClient, streamUrl, tokenFor, type TestClient } from '../relay/relay-harness.ts';

const { handle, redis, track, reset, close } = integrationResources();
const OTEL_ENV = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_BSP_SCHEDULE_DELAY'];
let collector: Awaited<ReturnType<typeof startOtlpReceiver>>;
let notifications: Awaited<ReturnType<typeof startReceiver>>;
let stopTracing: () => Promise<void>;
let client: TestClient | undefined;
let config: ReturnType<typeof testConfig>;

beforeAll(async () => {
  collector = await startOtlpReceiver();
  notifications = await startReceiver();
  config = testConfig({
    NOTIFY_WEBHOOK_URL: notifications.url,
    NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
  });
  // What an operator sets (the SDK reads them itself); the batch goes out every 100 ms instead of 5 s.
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' });
  stopTracing = await startTracing({ roles: ROLES, serviceName: config.tracing.serviceName, env: process.env });
});

afterAll(async () => {
  client?.ws.terminate();
  await reset(config.queuePrefix);
  await stopTracing();
  for (const name of OTEL_ENV) delete process.env[name];
  await Promise.all([collector.close(), notifications.close(), close()]);
});

const inTrace = (traceId: string) => collector.spans.filter((span) => span.traceId === traceId);
/** Whether the trace holds a span of each name (BullMQ names its add spans after the job too: `add vapi-events.transcript`). */
const holds = (traceId: string, names: string[]) =>
  names.every((name) => inTrace(traceId).some((span) => span.name === name || span.name.startsWith(`${name}.`)));

/** Every span but the trace's root has its parent in the trace: one tree, not fragments sharing an id. */
function expectOneTree(spans: ReceivedSpan[]) {
  const ids = new Set(spans.map((span) => span.spanId));
  const roots = spans.filter((span) => !span.parentSpanId || !ids.has(span.parentSpanId));
  expect(roots.map((span) => span.name)).toEqual(['request']);
}

describe('tracing configuration', () => {
  it('is off unless an OTLP endpoint is set, and refuses an endpoint that is no URL, naming it', () => {
    expect(testConfig().tracing).toEqual({ enabled: false, serviceName: undefined });
    expect(testConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces', OTEL_SERVICE_NAME: 'clinic-a' }).tracing).toEqual({
      enabled: true,
      serviceName: 'clinic-a',
    });
    expect(() => testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost 4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('names each role, or the product when several share a process', () => {
    expect(ROLES.map((role) => serviceNameFor([role]))).toEqual(['vapi-relay-ingress', 'vapi-relay-worker', 'vapi-relay-relay']);
    expect(serviceNameFor(ROLES)).toBe('vapi-relay');
  });
});

describe('tracing (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  it("follows a final transcript in one trace from Vapi's POST to the patient's socket, and a notification to its receiver", async () => {
    expect(config.tracing.enabled).toBe(true);
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'info',
      service: 'vapi-relay',
      pretty: false,
      traceIds: true,
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    const [ingress, worker, relay] = track(
      await buildIngressApp({ config, logger }),
      await buildWorkerApp({ config, logger }),
      await buildRelayApp({ config, logger }),
    );
    await Promise.all([ingress.ready(), worker.ready(), relay.listen({ host: '127.0.0.1', port: 0 })]);
    const patientId = `pat-${randomUUID().slice(0, 8)}`;
    client = await openClient(streamUrl(relay), tokenFor(config, patientId));
    await waitFor(async () => ((await redis.pubsub('NUMSUB', `${config.queuePrefix}:relay:patient:${patientId}`)) as [string, number])[1] > 0);

    const call = realisticCall({ patientId, startMs: Date.now() });
    for (const body of call.events) {
      const raw = JSON.stringify(body);
      expect((await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) })).statusCode).toBe(200);
    }
    const finalText = call.finalTranscripts.at(-1)![1];
    await waitFor(() => client!.received.some((m) => m.type === 'transcript' && (m.data as { transcript?: string }).transcript === finalText), 15_000);
    const frame = client.received.find((m) => m.type === 'transcript' && (m.data as { transcript?: string }).transcript === finalText)!;
    expect(frame).not.toHaveProperty('trace');

    // The relay's send of that frame names the trace; the trace holds every hop, one tree from the POST.
    const send = await waitFor(() => collector.spans.find((span) => span.name === 'relay.send' && span.attributes['vapi_relay.seq'] === frame.seq), 15_000);
    await waitFor(
      () => holds(send.traceId, ['request', 'add vapi-events', 'process vapi-events', 'worker.transaction', 'outbox.dispatch', 'relay.send']),
      15_000,
    );
    expectOneTree(inTrace(send.traceId));
    expect(inTrace(send.traceId).find((span) => span.name === 'worker.transaction')!.attributes['vapi_relay.session_id']).toBe(call.callId);
    expect(new Set(inTrace(send.traceId).map((span) => span.service))).toEqual(new Set(['vapi-relay']));
    // The outbox rows keep their transaction's context, for a sweep after a crash to dispatch them in their trace.
    const rows = await handle.db.select({ trace: sessionEvents.traceContext }).from(sessionEvents).where(eq(sessionEvents.sessionId, call.callId));
    expect(rows.length).toBeGreaterThan(0);
    for (const { trace } of rows) expect(trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    // Every log line written in that trace names it: the webhook's line at the ingress, the job's at the worker.
    const logged = lines.filter((line) => line.trace_id === send.traceId);
    expect(logged.map((line) => `${line.role} ${line.msg}`)).toEqual(expect.arrayContaining(['ingress webhook', 'worker job']));

    // The end-of-call report's notification carries its trace to the receiver as `traceparent`.
    await waitFor(() => notifications.received.length > 0, 15_000);
    const traceparent = String(notifications.received[0]!.headers.traceparent);
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const notified = traceparent.split('-')[1]!;
    await waitFor(() => holds(notified, ['request', 'add vapi-events', 'worker.transaction', 'outbox.dispatch', 'process vapi-notifications']), 15_000);
    expectOneTree(inTrace(notified));
  });
});

describe('tracing through the outbox sweep', () => {
  it('dispatches a row left undispatched (a crash after its commit) in the trace its transaction wrote into it', async () => {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const patientId = `pat-${randomUUID().slice(0, 8)}`;
    const sessionId = randomUUID();
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    await handle.db.insert(vapiSessions).values({ id: sessionId, patientId, status: 'in-progress' });
    await handle.db.insert(sessionEvents).values({
      sessionId,
      seq: 1,
      type: 'transcript',
      at: new Date(),
      data: cipher.encryptJson({ role: 'user', transcript: 'left behind', final: true }),
      // Past the settle time, as a row a crashed worker never published would be.
      createdAt: new Date(Date.now() - 60_000),
      traceContext: { traceparent: `00-${traceId}-${spanId}-01` },
    });
    const subscriber = redis.duplicate();
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(patientChannel(config.queuePrefix, patientId));
    try {
      const [worker] = track(await buildWorkerApp({ config, logger: silentLogger() }));
      await worker.ready();
      const message = await waitFor(() => messages[0], 15_000);
      const opened = openForPatient(cipher, patientId, message);
      const dispatch = await waitFor(() => collector.spans.find((span) => span.name === 'outbox.dispatch' && span.parentSpanId === spanId), 15_000);
      expect(dispatch).toMatchObject({ traceId, attributes: { 'vapi_relay.session_id': sessionId } });
      expect(opened).toMatchObject({ sessionId, seq: 1, trace: { traceparent: `00-${traceId}-${dispatch.spanId}-01` } });
    } finally {
      subscriber.disconnect();
    }
  });
});

describe('tracing in a role started by services/main.ts', () => {
  it("exports over http/protobuf by default, names the role as its service, continues a caller's traceparent, and logs the trace id", async () => {
    const port = await freePort();
    const ingress = new RoleProcess(
      'tracing',
      'ingress',
      port,
      {
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: config.queuePrefix,
        VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
        ADMIN_TOKEN: randomBytes(16).toString('hex'),
        SPOOL_DIR: mkdtempSync(join(tmpdir(), 'vapi-relay-tracing-spool-')),
        // No protocol named: the SDK's default, OTLP over http/protobuf.
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      mkdtempSync(join(tmpdir(), 'vapi-relay-tracing-')),
    );
    try {
      await ingress.start();
      const traceId = randomBytes(16).toString('hex');
      const raw = JSON.stringify(realisticCall().events[0]);
      const response = await fetch(`${ingress.url}${WEBHOOK_PATH}`, {
        method: 'POST',
        body: raw,
        headers: { ...hmacHeaders(raw), traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      });
      expect(response.status).toBe(200);
      // Probes and scrapes make no spans.
      await fetch(`${ingress.url}/metrics`);
      // Protobuf carries ids as raw bytes and strings as they are: the export names the trace, the role and the route.
      const exported = () => Buffer.concat(collector.protobufExports);
      await waitFor(() => exported().includes(Buffer.from(traceId, 'hex')) && exported().includes(WEBHOOK_PATH), 15_000);
      expect((await ingress.stop('SIGTERM')).code).toBe(0);
      expect(exported().includes('vapi-relay-ingress')).toBe(true);
      expect(exported().includes('/metrics')).toBe(false);
      const lines = readFileSync(join(FAULT_ARTIFACTS, 'tracing-ingress.log'), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('{'));
      const webhook = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'webhook');
      expect(webhook).toMatchObject({ trace_id: traceId, role: 'ingress' });
    } finally {
      await ingress.destroy();
    }
    // A process of its own starts in seconds, more on a loaded machine.
  }, 60_000);
});
