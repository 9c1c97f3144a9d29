import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { UnrecoverableError, Worker } from 'bullmq';
import { FieldCipher } from '#shared/crypto';
import { JobCodec } from '#shared/queues/codec';
import { eventsQueue } from '#shared/queues/events-queue';
import { liveQueue } from '#shared/queues/live-queue';
import { withDeadline } from '#shared/deadline';
import { readEnvelope } from '#shared/vapi/envelope';
import { laneOf } from '#shared/vapi/message-types';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { deriveEventId } from '../../services/ingress/lib/event-id.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { deleteKeys } from '../helpers/redis.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';

/** A port where no Redis listens, to see how the ingress behaves when Redis is gone. */
const DEAD_REDIS_URL = 'redis://127.0.0.1:6390';

const { redis, track, closeApps, close } = integrationResources();
/** The queue prefixes of this test's ingresses that reach Redis (a test starts several, each on its own). */
const prefixes: string[] = [];

/** Builds a ready ingress on a fresh queue prefix; closed and its keys deleted after each test. */
async function startIngress(overrides: Record<string, string> = {}) {
  const config = testConfig(overrides);
  const [app] = track(await buildIngressApp({ config, logger: silentLogger() }));
  if (config.redis.url !== DEAD_REDIS_URL) prefixes.push(config.queuePrefix);
  await app.ready();
  return { app, config };
}

afterEach(async () => {
  await closeApps();
  for (const prefix of prefixes.splice(0)) await deleteKeys(redis, prefix);
});
afterAll(close);

const post = (app: FastifyInstance, body: string, headers: Record<string, string> = hmacHeaders(body)) =>
  app.inject({ method: 'POST', url: WEBHOOK_PATH, payload: body, headers });

/** The entries of every spool segment in `dir`, oldest first. */
async function readSpool(dir: string): Promise<{ at: number; job: Record<string, unknown> }[]> {
  const names = (await readdir(dir).catch(() => [])).filter((name) => name.endsWith('.jsonl')).sort();
  const lines = await Promise.all(names.map(async (name) => (await readFile(join(dir, name), 'utf8')).split('\n').filter(Boolean)));
  return lines.flat().map((line) => JSON.parse(line));
}

const queuedJobs = (app: FastifyInstance) => app.queues.events.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);

const vapiBody = (message: Record<string, unknown> & { type: string }) =>
  JSON.stringify({ message: { timestamp: Date.now(), call: { id: randomUUID(), orgId: 'org-clinic' }, ...message } });

describe('accepted events', () => {
  it('answers a signed status-update with {"received":true} and queues exactly one job', async () => {
    const { app } = await startIngress();
    const call = realisticCall();
    const response = await post(app, JSON.stringify(call.events[0]));

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ received: true });
    const jobs = await queuedJobs(app);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.data).toMatchObject({ eventId: expect.any(String), type: 'status-update', callId: call.callId, source: 'vapi' });
  });

  it('queues the event encrypted: the job never holds the transcript in clear', async () => {
    const { app, config } = await startIngress();
    const call = realisticCall();
    const final = call.events.find((event) => event.message.type === 'transcript' && event.message.transcriptType === 'final')!;
    const body = JSON.stringify(final);

    expect((await post(app, body)).statusCode).toBe(200);
    const [job] = await queuedJobs(app);
    expect(job!.data.type).toBe('transcript');
    expect(job!.data.sealed).not.toContain(String(final.message.transcript));
    expect(JSON.stringify(job!.data)).not.toContain('Riverside');
    expect(new JobCodec(new FieldCipher(config.dataEncryptionKeys)).open(eventsQueue, job!.data)).toEqual({ payload: body, legacy: false });
  });

  it('answers the same body again as a duplicate and still holds one job', async () => {
    const { app } = await startIngress();
    const body = JSON.stringify(realisticCall().events[0]);

    expect((await post(app, body)).json()).toEqual({ received: true });
    const again = await post(app, body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ received: true, duplicate: true });
    expect(await app.queues.events.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('still recognises a redelivery once the processed job is gone from the queue', async () => {
    const { app } = await startIngress();
    const body = vapiBody({ type: 'status-update', status: 'ringing' });
    expect((await post(app, body)).json()).toEqual({ received: true });
    const [job] = await queuedJobs(app);
    await job!.remove();
    expect((await post(app, body)).json()).toEqual({ received: true, duplicate: true });
  });

  it('queues an event whose marker a failed delivery left behind without its job', async () => {
    const { app } = await startIngress();
    const body = vapiBody({ type: 'status-update', status: 'ringing' });
    // The marker and the add go to Redis together: an earlier delivery's marker may have landed while its add did not.
    const eventId = deriveEventId(readEnvelope(JSON.parse(body))!, Buffer.from(body));
    await redis.set(app.queues.events.toKey(`seen:${eventId}`), '1');

    const again = await post(app, body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ received: true, duplicate: true });
    const jobs = await queuedJobs(app);
    expect(jobs.map((job) => job.id)).toEqual([eventId]);
    expect(await jobs[0]!.getState()).toBe('waiting');
  });

  it('puts a dead-lettered event back with a fresh attempt budget when Vapi delivers it again', async () => {
    const { app, config } = await startIngress();
    const body = vapiBody({ type: 'status-update', status: 'ringing' });
    expect((await post(app, body)).json()).toEqual({ received: true });
    // A worker that can never store it: the job lands in the dead-letter (failed) set.
    const failing = new Worker(
      eventsQueue.name,
      async () => {
        throw new UnrecoverableError('cannot store');
      },
      { connection: redis, prefix: config.queuePrefix },
    );
    const [job] = await waitFor(async () => {
      const failed = await app.queues.events.getFailed();
      return failed.length > 0 && failed;
    });
    await failing.close();

    expect((await post(app, body)).json()).toEqual({ received: true });
    const again = (await app.queues.events.getJob(job!.id!))!;
    expect(await again.getState()).toBe('waiting');
    expect(again.attemptsMade).toBe(0);
  });

  it('does not mistake two different events of one call for duplicates', async () => {
    const { app } = await startIngress();
    const [queued, ringing] = realisticCall().events;
    expect((await post(app, JSON.stringify(queued))).json()).toEqual({ received: true });
    expect((await post(app, JSON.stringify(ringing))).json()).toEqual({ received: true });
    expect(await queuedJobs(app)).toHaveLength(2);
  });

  it('accepts the story envelope {"type":"message","data":{…}}', async () => {
    const { app } = await startIngress();
    const sessionId = randomUUID();
    const body = JSON.stringify({
      type: 'message',
      data: { sessionId, role: 'user', content: 'I need to refill my prescription.', timestamp: '2026-11-20T15:00:00.000Z' },
    });
    const response = await post(app, body);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ received: true });
    const [job] = await queuedJobs(app);
    expect(job!.data).toMatchObject({ type: 'message', callId: sessionId, source: 'story' });
  });

  it('does not take two story messages sent in the same second for one', async () => {
    const { app } = await startIngress();
    const sessionId = randomUUID();
    const story = (content: string) =>
      JSON.stringify({ type: 'message', data: { sessionId, timestamp: '2026-11-20T15:00:00Z', message: { role: 'user', content } } });

    expect((await post(app, story('Yes.'))).json()).toEqual({ received: true });
    expect((await post(app, story('And my daughter too.'))).json()).toEqual({ received: true });
    expect((await post(app, story('Yes.'))).json()).toEqual({ received: true, duplicate: true });
    expect(await queuedJobs(app)).toHaveLength(2);
  });

  it('tells apart events of one call in the same millisecond that differ only in a field it does not know', async () => {
    const { app } = await startIngress();
    const message = { type: 'phone-call-control', timestamp: 1795000000000, call: { id: 'call-pcc', orgId: 'org' } };
    expect((await post(app, JSON.stringify({ message: { ...message, request: 'forward' } }))).json()).toEqual({ received: true });
    expect((await post(app, JSON.stringify({ message: { ...message, request: 'hang-up' } }))).json()).toEqual({ received: true });
    expect(await queuedJobs(app)).toHaveLength(2);
  });

  it('dedups by the delivery id only when the signature covers it', async () => {
    const body = vapiBody({ type: 'hang' });
    const unsigned = await startIngress({ VAPI_MESSAGE_ID_HEADER: 'svix-id' });
    expect((await post(unsigned.app, body, { ...hmacHeaders(body), 'svix-id': 'msg_1' })).json()).toEqual({ received: true });
    // A replay under a new, unsigned delivery id is still the same event.
    expect((await post(unsigned.app, body, { ...hmacHeaders(body), 'svix-id': 'msg_2' })).json()).toEqual({ received: true, duplicate: true });

    const signed = await startIngress({ VAPI_MESSAGE_ID_HEADER: 'svix-id', VAPI_SIGNATURE_PAYLOAD: '{svix-id}.{body}' });
    const signedHeaders = (id: string) => ({ ...hmacHeaders(`${id}.${body}`), 'svix-id': id });
    expect((await post(signed.app, body, signedHeaders('msg_1'))).json()).toEqual({ received: true });
    expect((await post(signed.app, body, signedHeaders('msg_1'))).json()).toEqual({ received: true, duplicate: true });
    expect((await post(signed.app, body, signedHeaders('msg_2'))).json()).toEqual({ received: true });
  });

  it('recognises an end-of-call-report redelivered with a different presigned URL', async () => {
    const { app } = await startIngress();
    const { report } = realisticCall();
    const withUrl = (url: string): VapiBody => ({
      message: { ...report.message, artifact: { ...(report.message.artifact as object), recording: { stereoUrl: url } } },
    });
    const first = JSON.stringify(withUrl('https://storage.example/rec.wav?X-Amz-Signature=aaa111'));
    const retry = JSON.stringify(withUrl('https://storage.example/rec.wav?X-Amz-Signature=bbb222'));
    expect(first).not.toBe(retry);

    const idOf = (raw: string) => deriveEventId(readEnvelope(JSON.parse(raw))!, Buffer.from(raw));
    expect(idOf(retry)).toBe(idOf(first));
    expect((await post(app, first)).json()).toEqual({ received: true });
    expect((await post(app, retry)).json()).toEqual({ received: true, duplicate: true });
    expect(await queuedJobs(app)).toHaveLength(1);
  });

  it('hands a partial transcript to the live lane with the patient its call claims sealed, never in a clear field', async () => {
    const { app, config } = await startIngress();
    const call = realisticCall({ patientId: 'pat-sealed-claim' });
    const partial = call.events.find((event) => event.message.transcriptType === 'partial')!;
    expect((await post(app, JSON.stringify(partial))).json()).toEqual({ received: true });

    const [job] = await app.queues.live.getJobs(['waiting']);
    expect(Object.keys(job!.data).sort()).toEqual(['callId', 'receivedAt', 'sealed', 'type']);
    expect(JSON.stringify(job!.data)).not.toContain('pat-sealed-claim');
    const { payload: sealed } = new JobCodec(new FieldCipher(config.dataEncryptionKeys)).open(liveQueue, job!.data);
    expect(sealed).toMatchObject({ claimedPatientId: 'pat-sealed-claim', event: { sessionId: call.callId, data: { final: false } } });
  });
});

describe('events Vapi waits on', () => {
  it('answers tool-calls in time with one error per call, in order, when no worker answers', async () => {
    const { app } = await startIngress({ TOOL_DEADLINE_MS: '300' });
    const toolCallList = [
      { id: 'call_obj', type: 'function', function: { name: 'check_availability', arguments: { date: '2026-11-21' } } },
      {
        id: 'call_str',
        type: 'function',
        function: { name: 'lookup_patient_info', arguments: '{"dateOfBirth":"1984-03-03","fullName":"Ada Moreno"}' },
      },
    ];
    const response = await post(app, vapiBody({ type: 'tool-calls', toolCallList }));

    expect(response.statusCode).toBe(200);
    const { results } = response.json() as { results: Record<string, unknown>[] };
    expect(results.map((r) => [r.toolCallId, r.name])).toEqual([
      ['call_obj', 'check_availability'],
      ['call_str', 'lookup_patient_info'],
    ]);
    for (const result of results) {
      expect(result.error).toEqual(expect.any(String));
      expect(result.error).not.toMatch(/[\r\n]/);
    }
  });

  it('answers a legacy Vapi function-call and a story function-call with {result: string}', async () => {
    const { app } = await startIngress({ TOOL_DEADLINE_MS: '300' });
    const legacy = vapiBody({ type: 'function-call', functionCall: { name: 'check_availability', parameters: { date: '2026-11-21' } } });
    const story = JSON.stringify({ type: 'function-call', data: { sessionId: randomUUID(), name: 'check_availability', arguments: {} } });

    for (const body of [legacy, story]) {
      const response = await post(app, body);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ result: expect.any(String) });
    }
  });

  it('refuses an assistant-request with {error} when VAPI_ASSISTANT_ID is empty', async () => {
    const { app } = await startIngress();
    const response = await post(app, vapiBody({ type: 'assistant-request' }));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ error: expect.any(String) });
  });

  it('answers an assistant-request with {assistantId} when VAPI_ASSISTANT_ID is set', async () => {
    const { app } = await startIngress({ VAPI_ASSISTANT_ID: 'asst-front-desk' });
    const response = await post(app, vapiBody({ type: 'assistant-request' }));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ assistantId: 'asst-front-desk' });
  });

  it('answers a transfer-destination-request with {error}', async () => {
    const { app } = await startIngress();
    const response = await post(app, vapiBody({ type: 'transfer-destination-request' }));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ error: expect.any(String) });
  });
});

describe('rejected requests', () => {
  const body = JSON.stringify(realisticCall().events[0]);

  it('answers 401 INVALID_SIGNATURE to a request without a signature and queues nothing', async () => {
    const { app } = await startIngress();
    const response = await post(app, body, { 'content-type': 'application/json' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ success: false, code: 'INVALID_SIGNATURE', message: expect.any(String) });
    expect(await queuedJobs(app)).toHaveLength(0);
  });

  it('refuses a request whose signature header is missing or malformed before reading its body', async () => {
    const { app } = await startIngress();
    const url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
    for (const signature of [undefined, 'not-hex']) {
      // Announces 4 MB and sends none of it: only the headers can be answered.
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(Number(url.port), '127.0.0.1');
        let text = '';
        socket.on('data', (data) => {
          text += data.toString();
          if (text.includes('\r\n\r\n{')) socket.destroy();
        });
        socket.on('close', () => resolve(text));
        socket.write(
          `POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n${signature ? `x-vapi-signature: ${signature}\r\n` : ''}\r\n`,
        );
      });
      expect(answer).toMatch(/^HTTP\/1.1 401/);
      expect(answer).toContain('INVALID_SIGNATURE');
    }
  });

  it('answers 401 to a bad signature', async () => {
    const { app } = await startIngress();
    const response = await post(app, body, hmacHeaders(body, 'not-the-webhook-secret'));
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ success: false, code: 'INVALID_SIGNATURE' });
    expect(await queuedJobs(app)).toHaveLength(0);
  });

  it('answers 401 to an HMAC signature when the service expects a bearer token', async () => {
    const { app } = await startIngress({ VAPI_AUTH: 'bearer' });
    const response = await post(app, body);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ success: false, code: 'INVALID_SIGNATURE' });
  });

  it('answers 400 INVALID_PAYLOAD to signed malformed JSON and queues nothing', async () => {
    const { app } = await startIngress();
    const response = await post(app, '{"message": {"type": "status-update",');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ success: false, code: 'INVALID_PAYLOAD' });
    expect(await queuedJobs(app)).toHaveLength(0);
  });

  it('answers 400 INVALID_PAYLOAD to signed JSON without an event type', async () => {
    const { app } = await startIngress();
    const response = await post(app, '{"foo":1}');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ success: false, code: 'INVALID_PAYLOAD' });
    expect(await queuedJobs(app)).toHaveLength(0);
  });

  it('answers 400 INVALID_PAYLOAD to JSON nested deeper than any event, without failing', async () => {
    const { app } = await startIngress();
    const body = `{"message":{"type":"model-output","call":{"id":"c"},"output":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const response = await post(app, body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_PAYLOAD', message: expect.stringContaining('nests') });
    expect(await queuedJobs(app)).toHaveLength(0);
  });

  it('answers 400 INVALID_PAYLOAD to events that must name their call and do not', async () => {
    const { app } = await startIngress();
    for (const body of [
      JSON.stringify({ type: 'message', data: { role: 'user', content: 'Which session am I?' } }),
      JSON.stringify({ message: { type: 'transcript', role: 'user', transcriptType: 'final', transcript: 'Hello' } }),
    ]) {
      const response = await post(app, body);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'INVALID_PAYLOAD', message: expect.stringMatching(/sessionId|call\.id/) });
    }
    expect(await queuedJobs(app)).toHaveLength(0);
  });

  it('answers 413 PAYLOAD_TOO_LARGE to a body over WEBHOOK_BODY_LIMIT_BYTES and queues nothing', async () => {
    const { app } = await startIngress({ WEBHOOK_BODY_LIMIT_BYTES: '2048' });
    const large = vapiBody({ type: 'status-update', status: 'in-progress', padding: 'x'.repeat(4096) });
    expect(Buffer.byteLength(large)).toBeGreaterThan(4096);

    const response = await post(app, large);
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ success: false, code: 'PAYLOAD_TOO_LARGE' });
    expect(await queuedJobs(app)).toHaveLength(0);
  });
});

describe('odd content types', () => {
  it('answers a Content-Type that is not a media type with the contract 400, not 415', async () => {
    const { app } = await startIngress();
    const body = JSON.stringify(realisticCall().events[0]);
    for (const contentType of ['garbage', 'application/', ';;']) {
      const response = await post(app, body, { ...hmacHeaders(body), 'content-type': contentType });
      expect({ contentType, status: response.statusCode, code: response.json().code }).toEqual({ contentType, status: 400, code: 'INVALID_PAYLOAD' });
    }
    expect(await queuedJobs(app)).toHaveLength(0);
  });
});

describe('when Redis is unavailable', () => {
  it("spools the event, fsync'd, and answers 200 quickly", async () => {
    const { app, config } = await startIngress({ REDIS_URL: DEAD_REDIS_URL });
    const body = JSON.stringify(realisticCall().events[0]);

    const startedAt = performance.now();
    const response = await withDeadline(post(app, body), 5_000, 'webhook');
    const elapsedMs = performance.now() - startedAt;

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ received: true });
    expect(elapsedMs).toBeLessThan(5_000);
    const spooled = await readSpool(config.spool.dir);
    expect(spooled).toHaveLength(1);
    // What the spool keeps is the queue's job: ids in clear, the body sealed.
    expect(spooled[0]).toMatchObject({ job: { type: 'status-update', source: 'vapi', sealed: expect.any(String) } });
    expect(JSON.stringify(spooled)).not.toContain('"status"');
  });

  it('drains what an earlier run spooled into the queue once Redis answers, in order, each once', async () => {
    const spoolDir = testConfig().spool.dir;
    const { app: down } = await startIngress({ REDIS_URL: DEAD_REDIS_URL, SPOOL_DIR: spoolDir });
    const call = realisticCall();
    const bodies = call.events.filter((event) => laneOf(readEnvelope(event)!) !== 'live').map((event) => JSON.stringify(event));
    for (const body of bodies) expect((await post(down, body)).statusCode).toBe(200);
    await down.close();
    expect(await readSpool(spoolDir)).toHaveLength(bodies.length);

    const { app: up } = await startIngress({ SPOOL_DIR: spoolDir });
    const jobs = await waitFor(async () => {
      const found = await up.queues.events.getJobs(['waiting'], 0, -1, true);
      return found.length === bodies.length && found;
    });
    const types = bodies.map((body) => readEnvelope(JSON.parse(body))!.type);
    expect(jobs.map((job) => job.name)).toEqual(types);
    await waitFor(async () => (await readSpool(spoolDir)).length === 0);
    // Vapi sending one of them again now is a duplicate: the spool's events went through the same dedup.
    expect((await post(up, bodies[0]!)).json()).toEqual({ received: true, duplicate: true });
  });

  it('answers 503 UNAVAILABLE, never a 2xx, when the spool cannot take the event either', async () => {
    const { app, config } = await startIngress({ REDIS_URL: DEAD_REDIS_URL, SPOOL_MAX_BYTES: String(1024 * 1024) });
    const report = vapiBody({ type: 'end-of-call-report', endedReason: 'customer-ended-call', summary: 'x'.repeat(1024 * 1024) });

    const response = await withDeadline(post(app, report), 5_000, 'webhook');
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ success: false, code: 'UNAVAILABLE' });
    expect(await readSpool(config.spool.dir)).toHaveLength(0);
  });

  it('answers tool calls in time with an error for each: they are not spooled to run later', async () => {
    const { app } = await startIngress({ REDIS_URL: DEAD_REDIS_URL, TOOL_DEADLINE_MS: '3000' });
    const toolCallList = [{ id: 'call-a', type: 'function', function: { name: 'lookup_patient_info', arguments: {} } }];
    const startedAt = performance.now();
    const response = await withDeadline(post(app, vapiBody({ type: 'tool-calls', toolCallList })), 5_000, 'webhook');
    // No queue to wait on: the answer comes at once rather than at the deadline.
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ results: [{ toolCallId: 'call-a', name: 'lookup_patient_info', error: expect.any(String) }] });
  });

  it('stays ready while the spool has room, and says so on /readyz', async () => {
    const { app } = await startIngress({ REDIS_URL: DEAD_REDIS_URL });
    const response = await withDeadline(app.inject({ method: 'GET', url: '/readyz' }), 5_000, 'readyz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready', checks: { durable: 'ok' } });
  });
});

describe('health and metrics', () => {
  it('answers /healthz with 200', async () => {
    const { app } = await startIngress();
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers /readyz with 200 once its Redis connection is up', async () => {
    const { app } = await startIngress();
    // The producer connection is still being opened when ready() resolves: wait for it, with a deadline.
    const ready = await waitFor(async () => {
      const response = await app.inject({ method: 'GET', url: '/readyz' });
      return response.statusCode === 200 && response;
    }, 3_000);
    expect(ready.json()).toEqual({ status: 'ready', checks: { durable: 'ok' } });
  });

  it('counts webhook requests in /metrics', async () => {
    const { app } = await startIngress();
    await post(app, JSON.stringify(realisticCall().events[0]));
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });

    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('vapi_relay_webhook_requests_total');
    expect(metrics.body).toMatch(/vapi_relay_webhook_requests_total\{[^}]*type="status-update"[^}]*\} 1/);
  });
});
