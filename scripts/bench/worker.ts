/**
 * Bench section: the worker at the database's pace. Reference: the same SQL writes per event
 * (event row, session lock, message, outbox row, session update, one transaction each) issued
 * directly with prepared statements at the worker's concurrency (WORKER_CONCURRENCY transactions
 * at once): what the database does for this work one event at a time. Ours: the worker draining
 * a backlog of final transcripts over 50 calls, its group commit storing the jobs it holds at once
 * in one transaction.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
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
import { BENCH_DATABASE_URL, benchConfig, ratio, silentLogger, transcriptBody } from './bench-environment.ts';
import type { BenchRun } from './section.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const CALLS = 50;

/** The worker's writes for one final transcript, straight to Postgres. */
async function directWrites(sql: postgres.Sql, cipher: FieldCipher, concurrency: number): Promise<number> {
  const calls = Array.from({ length: CALLS }, () => `bench-direct-${randomUUID()}`);
  for (const id of calls) await sql`insert into vapi_sessions (id, status) values (${id}, 'in-progress')`;
  const sealed = cipher.encrypt(transcriptBody('x', 'payload', true));
  const text = cipher.encrypt('I would like to book a follow-up visit next Tuesday morning if possible.');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < EVENTS) {
        const i = next++;
        const sessionId = calls[i % CALLS]!;
        const eventId = randomUUID();
        await sql.begin(async (tx) => {
          await tx`insert into vapi_events (id, session_id, type, occurred_at, received_at, payload) values (${eventId}, ${sessionId}, 'transcript', now(), now(), ${sealed}) on conflict do nothing`;
          const [session] = await tx`select last_seq from vapi_sessions where id = ${sessionId} for update`;
          const seq = (session!.last_seq as number) + 1;
          await tx`insert into vapi_messages (session_id, event_id, role, transcript, timestamp) values (${sessionId}, ${eventId}, 'user', ${text}, now())`;
          await tx`insert into session_events (session_id, seq, type, at, data) values (${sessionId}, ${seq}, 'transcript', now(), ${text})`;
          await tx`update vapi_sessions set last_seq = ${seq}, last_event_at = now(), updated_at = now() where id = ${sessionId}`;
        });
      }
    }),
  );
  return EVENTS / ((performance.now() - started) / 1000);
}

export const benchWorker: BenchRun = async () => {
  const config = benchConfig();
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  await migrateDatabase(BENCH_DATABASE_URL);
  const sql = postgres(BENCH_DATABASE_URL, { max: config.workerConcurrency, prepare: true, onnotice: () => {} });
  await sql`truncate session_events, vapi_messages, vapi_events, vapi_sessions, notification_outbox restart identity cascade`;
  const reference = await directWrites(sql, cipher, config.workerConcurrency);
  // Its connections go before the worker opens its own: together they would pass many a server's max_connections.
  await sql.end();

  const redis = createRedis(config.redis, 'worker', silentLogger);
  const queue = new Queue<JobData<EventMeta>>(eventsQueue.name, { connection: redis, prefix: config.queuePrefix, defaultJobOptions: eventsQueue.options });
  const codec = new JobCodec(cipher);
  for (let start = 0; start < EVENTS; start += 2_000) {
    await queue.addBulk(
      Array.from({ length: Math.min(2_000, EVENTS - start) }, (_, j) => {
        const body = transcriptBody(`bench-call-${(start + j) % CALLS}`, `${start + j}`, true);
        const data = toEventJob(codec, readEnvelope(JSON.parse(body))!, Buffer.from(body), { requestId: 'bench' });
        return { name: data.type, data, opts: { jobId: data.eventId } };
      }),
    );
  }
  const started = performance.now();
  const worker = await buildWorkerApp({ config, logger: silentLogger });
  await worker.ready();
  // Drained when nothing waits or runs (completed jobs are trimmed to 10,000, so they cannot be counted).
  for (;;) {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(counts).every((n) => n === 0)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const ours = EVENTS / ((performance.now() - started) / 1000);
  const failed = (await queue.getJobCounts('failed')).failed ?? 0;
  const batches = (await worker.metrics.getSingleMetric('vapi_relay_event_batch_size')!.get()).values;
  const transactions = batches.find((value) => (value as { metricName?: string }).metricName === 'vapi_relay_event_batch_size_count')?.value ?? 0;
  await worker.close();
  await queue.close();
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();

  const perSecond = (n: number) => `${Math.round(n)} events/s`;
  return {
    title: `worker draining ${EVENTS} final transcripts over ${CALLS} calls (concurrency ${config.workerConcurrency}; ${(EVENTS / transactions).toFixed(1)} events per transaction)`,
    rows: [
      {
        what: 'events stored',
        figure: perSecond(ours),
        reference: `${perSecond(reference)} (same SQL, direct)`,
        ratio: ratio(ours / reference),
        target: '≥ 1.0 × (moonshot ≥ 2.0 ×)',
        met: ours >= reference,
      },
    ],
    figures: { events: EVENTS, calls: CALLS, concurrency: config.workerConcurrency, transactions, oursPerSecond: ours, directSqlPerSecond: reference, failed },
  };
};
