/**
 * `npm run bench`: throughput and latency of the ingress and the worker, each as a ratio against a
 * reference measured in the same run on the same machine, so the figures compare across machines.
 *
 * - ingress: signed webhooks over real HTTP (verify, encrypt, dedup check, enqueue in Redis)
 *   against a bare Fastify endpoint that reads the body and answers `{"received":true}`;
 * - worker: events stored (one transaction each: event log, session lock, message, outbox)
 *   against the same jobs taken by a BullMQ worker that does nothing, at the same concurrency.
 *
 * It uses its own database (`vapi_relay_bench`) and a fresh queue prefix, and cleans up after itself.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { loadConfig } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { createLogger } from '#shared/logger';
import { Worker } from 'bullmq';
import type { JobData } from '#shared/queues/definition';
import { eventsQueue, type EventMeta } from '#shared/queues/events-queue';
import { JobCodec } from '#shared/queues/codec';
import { Queue } from 'bullmq';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { readEnvelope } from '#shared/vapi/envelope';
import { buildIngressApp } from '../../services/ingress/app';
import { toEventJob } from '../../services/ingress/lib/event-job';
import type { Redis } from 'ioredis';
import { WEBHOOK_PATH } from '../../services/ingress/routes/webhook';
import { buildWorkerApp } from '../../services/worker/app';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 4_000);
const CONCURRENCY = 32;
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vapi_relay_bench';

const config = loadConfig({
  ...process.env,
  NODE_ENV: 'bench',
  LOG_LEVEL: 'silent',
  DATABASE_URL,
  QUEUE_PREFIX: `{bench-${randomUUID().slice(0, 8)}}`,
  VAPI_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
  RELAY_JWT_SECRET: randomBytes(16).toString('hex'),
  DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  ADMIN_TOKEN: randomBytes(16).toString('hex'),
});
const logger = createLogger({ level: 'silent', service: 'bench', pretty: false });
const cipher = new FieldCipher(config.dataEncryptionKeys);

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** Runs `count` calls of `task`, `concurrency` at a time; reports throughput and latency in ms. */
async function measure(count: number, task: (i: number) => Promise<void>, concurrency = CONCURRENCY): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await task(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: count / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

function transcriptBody(callId: string, i: number) {
  return JSON.stringify({
    message: {
      type: 'transcript',
      role: i % 2 ? 'user' : 'assistant',
      transcriptType: 'final',
      transcript: `Utterance ${i}: I would like to book a follow-up visit next Tuesday morning if possible.`,
      timestamp: 1_795_000_000_000 + i,
      call: { id: callId, orgId: 'org-bench', type: 'inboundPhoneCall', customer: { number: '+15550100000' } },
    },
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** One POST over a kept-alive connection; node:http, because fetch would cost more than the servers. */
function post(url: string, body: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (response) => {
      response.resume();
      response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`status ${response.statusCode}`))));
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function benchIngress() {
  const reference = Fastify();
  reference.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  reference.post(WEBHOOK_PATH, async () => ({ received: true }));
  const referenceUrl = `${await reference.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;

  const ingress = await buildIngressApp({ config, logger });
  const ingressUrl = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  const sequential = Math.min(500, REQUESTS);
  const bodies = Array.from({ length: REQUESTS + sequential }, (_, i) => transcriptBody(`bench-call-${i % 50}`, i));
  const sign = (body: string) => ({
    'content-type': 'application/json',
    'x-vapi-signature': createHmac('sha256', config.vapi.secrets[0]!).update(body).digest('hex'),
  });
  const signed = bodies.map(sign);

  const toReference = (i: number) => post(referenceUrl, bodies[i]!, signed[i]!);
  const toIngress = (i: number) => post(ingressUrl, bodies[i]!, signed[i]!);
  await measure(200, toReference); // warm-up
  const base = await measure(REQUESTS, toReference);
  const ours = await measure(REQUESTS, toIngress);
  // One request at a time: the latency a single Vapi delivery sees (fresh events, so none is a duplicate).
  const baseOne = await measure(sequential, toReference, 1);
  const oursOne = await measure(sequential, (i) => toIngress(REQUESTS + i), 1);
  await Promise.all([ingress.close(), reference.close()]);
  return { base, ours, baseOne, oursOne };
}

/** Adds `EVENTS` event jobs (distinct transcripts over 50 calls) to a fresh queue. */
async function fillQueue(queue: Queue<JobData<EventMeta>>) {
  const codec = new JobCodec(cipher);
  await queue.addBulk(
    Array.from({ length: EVENTS }, (_, i) => {
      const body = transcriptBody(`bench-call-${i % 50}`, i);
      const data = toEventJob(codec, readEnvelope(JSON.parse(body))!, Buffer.from(body), { requestId: 'bench' });
      return { name: data.type, data, opts: { jobId: data.eventId } };
    }),
  );
}

const openEventsQueue = (redis: Redis, prefix: string) =>
  new Queue<JobData<EventMeta>>(eventsQueue.name, { connection: redis, prefix, defaultJobOptions: eventsQueue.options });

/** Jobs per second from the moment `start` is called until the queue has finished every job. */
async function drain(queue: Queue<JobData<EventMeta>>, start: () => Promise<() => Promise<void>>): Promise<number> {
  const started = performance.now();
  const stop = await start();
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed');
    if ((counts.completed ?? 0) + (counts.failed ?? 0) >= EVENTS) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const perSecond = EVENTS / ((performance.now() - started) / 1000);
  await stop();
  return perSecond;
}

async function benchWorker() {
  const handle = createDatabase(DATABASE_URL, { max: 4 });
  await handle.sql`truncate session_events, vapi_messages, vapi_events, vapi_sessions, patients restart identity cascade`;
  await handle.close();
  const redis = createRedis(config.redisUrl, 'worker', logger);

  // Reference: the same jobs through a BullMQ worker that does nothing with them.
  const idle = openEventsQueue(redis, `${config.queuePrefix}-idle`);
  await fillQueue(idle);
  const base = await drain(idle, async () => {
    const worker = new Worker(eventsQueue.name, async () => 'ok', { connection: redis.duplicate(), prefix: `${config.queuePrefix}-idle`, concurrency: config.workerConcurrency });
    return () => worker.close();
  });
  await idle.close();

  const queue = openEventsQueue(redis, config.queuePrefix);
  await fillQueue(queue);
  const ours = await drain(queue, async () => {
    const worker = await buildWorkerApp({ config, logger });
    await worker.ready();
    return () => worker.close();
  });
  await queue.close();
  // Everything the run left in Redis (both phases' queues and seen markers) is under its prefix.
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();
  return { base, ours };
}

const fmt = (n: number, digits = 0) => n.toFixed(digits).padStart(8);

await migrateDatabase(DATABASE_URL);
console.log(`node ${process.version}, ${REQUESTS} requests and ${EVENTS} events, concurrency ${CONCURRENCY}\n`);

const ingress = await benchIngress();
console.log('ingress (signed webhook → durable in Redis) vs bare Fastify endpoint');
console.log(`  reference  ${fmt(ingress.base.perSecond)} req/s   p50 ${fmt(ingress.base.p50, 2)} ms   p99 ${fmt(ingress.base.p99, 2)} ms`);
console.log(`  ingress    ${fmt(ingress.ours.perSecond)} req/s   p50 ${fmt(ingress.ours.p50, 2)} ms   p99 ${fmt(ingress.ours.p99, 2)} ms`);
console.log(`  ratio      ${fmt(ingress.ours.perSecond / ingress.base.perSecond, 2)} × throughput, ${fmt(ingress.ours.p99 / ingress.base.p99, 2)} × p99`);
console.log(`  one at a time: reference p50 ${fmt(ingress.baseOne.p50, 2)} ms p99 ${fmt(ingress.baseOne.p99, 2)} ms; ingress p50 ${fmt(ingress.oursOne.p50, 2)} ms p99 ${fmt(ingress.oursOne.p99, 2)} ms (${fmt(ingress.oursOne.p50 / ingress.baseOne.p50, 2)} × p50)\n`);

const worker = await benchWorker();
console.log('worker (event stored: log, session, message, outbox) vs a BullMQ worker that does nothing');
console.log(`  reference  ${fmt(worker.base)} jobs/s`);
console.log(`  worker     ${fmt(worker.ours)} events/s`);
console.log(`  ratio      ${fmt(worker.ours / worker.base, 2)} × throughput`);
process.exit(0);
