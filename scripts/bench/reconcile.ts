/**
 * Bench section: the event lane while silent calls are reconciled. Reference: a paced stream of
 * final transcripts (over 50 live calls) stored by a worker with nothing to reconcile. Ours: the same
 * stream while the same worker reconciles a backlog of silent sessions against a Vapi-shaped API
 * that answers after 100 ms, and hangs on one call in ten until the request's 5 s timeout (then
 * answers the retry). Each event's latency is from its enqueue to its job's completion (BullMQ's
 * own timestamps); the reconciled reports travel the same lane.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Queue } from 'bullmq';
import postgres from 'postgres';
import { FieldCipher } from '#shared/crypto';
import { migrateDatabase } from '#shared/db/migrate';
import { JobCodec } from '#shared/queues/codec';
import type { JobData } from '#shared/queues/definition';
import { eventsQueue, type EventMeta } from '#shared/queues/events-queue';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { readEnvelope } from '#shared/vapi/envelope';
import { toEventJob } from '../../services/ingress/lib/event-job.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { BENCH_DATABASE_URL, benchConfig, benchEnvironment, ms, ratio, silentLogger, summarise, transcriptBody } from './bench-environment.ts';
import type { BenchRun } from './section.ts';

const EVENTS = Number(process.env.BENCH_RECONCILE_EVENTS ?? 3_000);
const SILENT = Number(process.env.BENCH_SILENT_SESSIONS ?? 1_000);
const PER_SECOND = 300;
const CALLS = 50;
const API_DELAY_MS = 100;

/** Vapi's `GET /call/{id}` for the bench: an ended call after API_DELAY_MS; one call in ten hangs on its first ask. */
async function startApi() {
  const asked = new Set<string>();
  const server = createServer((request, response) => {
    const id = decodeURIComponent((request.url ?? '').replace(/^\/call\//, ''));
    const first = !asked.has(id);
    asked.add(id);
    if (first && id.endsWith('0')) return; // held until the client gives up
    setTimeout(() => {
      const start = Date.now() - 120_000;
      const body = {
        id,
        orgId: 'org-bench',
        status: 'ended',
        endedReason: 'customer-ended-call',
        createdAt: new Date(start).toISOString(),
        updatedAt: new Date().toISOString(),
        startedAt: new Date(start).toISOString(),
        endedAt: new Date(start + 60_000).toISOString(),
        cost: 0.05,
        analysis: { summary: 'The caller asked about opening hours.' },
        artifact: { messages: [{ role: 'user', message: 'When are you open?', time: start + 1_000, secondsFromStart: 1 }] },
      };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    }, API_DELAY_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** Streams EVENTS final transcripts at PER_SECOND into a worker and returns each one's latency (ms), and how many sessions were reconciled meanwhile. */
async function streamThrough(env: Record<string, string>, silent: number) {
  const config = benchConfig(env);
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const sql = postgres(BENCH_DATABASE_URL, { max: 2, onnotice: () => {} });
  await sql`truncate session_events, vapi_messages, vapi_events, vapi_sessions, notification_outbox restart identity cascade`;
  for (let start = 0; start < silent; start += 500) {
    const ids = Array.from({ length: Math.min(500, silent - start) }, (_, i) => `bench-silent-${randomUUID().slice(0, 8)}${(start + i) % 10}`);
    await sql`insert into vapi_sessions (id, status, metadata, updated_at) select id, 'in-progress', '{"source":"vapi"}'::jsonb, now() - interval '2 hours' from unnest(${ids}::text[]) as id`;
  }
  const redis = createRedis(config.redis, 'worker', silentLogger);
  const queue = new Queue<JobData<EventMeta>>(eventsQueue.name, { connection: redis, prefix: config.queuePrefix, defaultJobOptions: eventsQueue.options });
  const codec = new JobCodec(cipher);
  const worker = await buildWorkerApp({ config, logger: silentLogger });
  await worker.ready();

  const started = Date.now();
  const ids: string[] = [];
  for (let sent = 0; sent < EVENTS; ) {
    const due = Math.min(EVENTS, Math.floor(((Date.now() - started) / 1000) * PER_SECOND) + 1);
    for (; sent < due; sent += 1) {
      const body = transcriptBody(`bench-live-${sent % CALLS}`, `${sent}`, true);
      const data = toEventJob(codec, readEnvelope(JSON.parse(body))!, Buffer.from(body), { requestId: 'bench' });
      ids.push(data.eventId);
      await queue.add(data.type, data, { jobId: data.eventId });
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (;;) {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(counts).every((n) => n === 0)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const [row] = await sql<{ reconciled: number }[]>`select count(*)::int as reconciled from vapi_sessions where metadata ? 'reconciled'`;
  const reconciled = row?.reconciled ?? 0;
  const streamS = (Date.now() - started) / 1000;
  const latencies: number[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const jobs = await Promise.all(ids.slice(i, i + 500).map((id) => queue.getJob(id)));
    for (const job of jobs) if (job?.finishedOn) latencies.push(job.finishedOn - job.timestamp);
  }
  await worker.close();
  await queue.close();
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();
  await sql.end();
  return { ...summarise(latencies), reconciled, streamS };
}

export const benchReconcile: BenchRun = async () => {
  await migrateDatabase(BENCH_DATABASE_URL);
  const api = await startApi();
  const quiet = await streamThrough({ ...benchEnvironment(), RECONCILE_AFTER_S: '3600' }, 0);
  const sweeping = await streamThrough({ ...benchEnvironment(), RECONCILE_AFTER_S: '60', VAPI_API_KEY: 'bench-key', VAPI_API_URL: api.url }, SILENT);
  await api.close();
  return {
    title: `event lane at ${PER_SECOND} events/s (${EVENTS} final transcripts over ${CALLS} calls) while ${SILENT} silent sessions are reconciled (API 100 ms, one in ten hangs 5 s)`,
    rows: [
      {
        what: 'event p99 while reconciling',
        figure: ms(sweeping.p99),
        reference: `${ms(quiet.p99)} (nothing to reconcile)`,
        ratio: ratio(sweeping.p99 / quiet.p99),
      },
      { what: 'event p50 while reconciling', figure: ms(sweeping.p50), reference: ms(quiet.p50), ratio: ratio(sweeping.p50 / quiet.p50) },
      {
        what: 'reconciled during the stream',
        figure: `${sweeping.reconciled} sessions`,
        reference: `${SILENT} silent`,
        ratio: ratio(sweeping.reconciled / SILENT),
      },
    ],
    figures: { events: EVENTS, perSecond: PER_SECOND, silentSessions: SILENT, reconciledDuringStream: sweeping.reconciled, quiet, sweeping },
  };
};
