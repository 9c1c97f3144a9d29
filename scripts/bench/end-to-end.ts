/**
 * Bench section: POST → the patient's relay channel, at a steady rate across many calls, half
 * partial transcripts (live lane) and half final ones (durable lane: queue, transaction, outbox,
 * dispatcher), and on to each patient's app over the relay's WebSocket. The processes of
 * production's topology (roles.ts: the durable lane's worker apart from the live one); the load
 * generator in a process of its own. Reference in the same run: a bare route that publishes each
 * body straight to a Redis channel (HTTP plus pub/sub, nothing else).
 */
import Fastify from 'fastify';
import { Queue } from 'bullmq';
import { FieldCipher } from '#shared/crypto';
import { migrateDatabase } from '#shared/db/migrate';
import { eventsQueue } from '#shared/queues/events-queue';
import { liveQueue } from '#shared/queues/live-queue';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { openForPatient, patientOfChannel } from '#shared/relay-messages';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { BENCH_DATABASE_URL, benchConfig, benchEnvironment, ms, signedHeaders, silentLogger, summarise, transcriptBody } from './bench-environment.ts';
import { now } from './clock.ts';
import { generateLoad } from './load.ts';
import { openApps, startTopology, topologyDescription } from './roles.ts';
import type { BenchRun } from './section.ts';

const RATE = Number(process.env.BENCH_E2E_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 20);
const CALLS = 100;

const tagOf = (text: unknown) => /^\[([^\]]+)\]/.exec(String(text))?.[1];

export const benchEndToEnd: BenchRun = async () => {
  const env = { ...benchEnvironment(), LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', WORKER_PORT: '0', RELAY_PORT: '0' };
  const config = benchConfig(env);
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const secret = config.vapi.secrets[0]!;
  await migrateDatabase(BENCH_DATABASE_URL);

  const received = new Map<string, number>();
  const subscriber = createRedis(config.redis, 'subscriber', silentLogger);
  subscriber.on('pmessage', (_pattern, channel: string, message: string) => {
    const at = now();
    const patientId = patientOfChannel(config.queuePrefix, channel);
    const event = message.startsWith('v1.') && patientId ? openForPatient(cipher, patientId, message) : (JSON.parse(message) as RelayEvent);
    const tag = event.type === 'transcript' ? tagOf(event.data.transcript) : undefined;
    if (tag && !received.has(tag)) received.set(tag, at);
  });
  await subscriber.psubscribe(patientChannel(config.queuePrefix, '*'));

  const calls = Array.from({ length: CALLS }, (_, k) => ({ id: `bench-e2e-${config.queuePrefix}-${k}`, patientId: `bench-patient-${k}` }));
  const requests = Array.from({ length: RATE * SECONDS }, (_, i) => {
    const call = calls[i % CALLS]!;
    const body = transcriptBody(call.id, `e${i}`, i % 2 === 0, call.patientId);
    return { body, headers: signedHeaders(secret, body) };
  });
  const latencies = (tags: string[], sentAt: number[], arrivals = received) => {
    const partial: number[] = [];
    const final: number[] = [];
    tags.forEach((tag, i) => {
      const at = arrivals.get(tag);
      if (at !== undefined) (i % 2 === 0 ? final : partial).push(at - sentAt[i]!);
    });
    return { partial: summarise(partial), final: summarise(final) };
  };
  const settle = async (expected: number, arrivals = received) => {
    for (let quiet = 0, last = -1; quiet < 30 && arrivals.size < expected; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      quiet = arrivals.size === last ? quiet + 1 : 0;
      last = arrivals.size;
    }
  };

  // Reference: HTTP in, straight onto the channel.
  const publisher = createRedis(config.redis, 'worker', silentLogger);
  const bare = Fastify();
  bare.post(WEBHOOK_PATH, async (request) => {
    const { message } = request.body as { message: { transcript: string } };
    await publisher.publish(patientChannel(config.queuePrefix, 'reference'), JSON.stringify({ type: 'transcript', data: { transcript: message.transcript } }));
    return { received: true };
  });
  const bareUrl = `${await bare.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  const referenceReport = await generateLoad({ url: bareUrl, requests, perSecond: RATE });
  await settle(requests.length);
  const reference = latencies(
    requests.map((_, i) => `e${i}`),
    referenceReport.sentAt,
  );
  await bare.close();
  received.clear();

  // Ours: production's processes, and each patient's app connected to the relay.
  const topology = await startTopology(env);
  const onSockets = new Map<string, number>();
  const sockets = await openApps(
    topology.relayUrl,
    calls.map((call) => call.patientId),
    config.relayJwtSecret,
    (event, at) => {
      const tag = event.type === 'transcript' ? tagOf(event.data.transcript) : undefined;
      if (tag && !onSockets.has(tag)) onSockets.set(tag, at);
    },
  );
  const url = topology.webhookUrl;
  // Each call's first durable event binds it to its patient before the measured load.
  const priming = calls.map((call) => {
    const body = JSON.stringify({
      message: {
        type: 'status-update',
        status: 'in-progress',
        timestamp: Date.now(),
        call: { id: call.id, orgId: 'org-bench', metadata: { patientId: call.patientId } },
      },
    });
    return { body, headers: signedHeaders(secret, body) };
  });
  await generateLoad({ url, requests: priming, concurrency: 16 });
  for (let bound = 0; bound < CALLS; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    bound = (await Promise.all(calls.map((call) => publisher.exists(`${config.queuePrefix}:binding:${call.id}`)))).reduce((a, b) => a + b, 0);
  }
  const queues = [eventsQueue, liveQueue].map((q) => new Queue(q.name, { connection: publisher, prefix: config.queuePrefix }));
  const waiting = async () => (await Promise.all(queues.map((q) => q.getWaitingCount()))).reduce((a, b) => a + b, 0);
  const backlogBefore = await waiting();
  const report = await generateLoad({ url, requests, perSecond: RATE });
  const backlogAfter = await waiting();
  await settle(requests.length);
  await settle(requests.length, onSockets);
  const tags = requests.map((_, i) => `e${i}`);
  const ours = latencies(tags, report.sentAt);
  const app = latencies(tags, report.sentAt, onSockets);

  for (const socket of sockets) socket.close();
  await topology.stop();
  await Promise.all(queues.map((q) => q.close()));
  await deleteKeysWithPrefix(publisher, config.queuePrefix);
  subscriber.disconnect();
  publisher.disconnect();

  const row = (measured: typeof ours, kind: 'partial' | 'final', what: string) => ({
    what: `${what} p50 / p99`,
    figure: `${ms(measured[kind].p50)} / ${ms(measured[kind].p99)}`,
    reference: `${ms(reference[kind].p50)} / ${ms(reference[kind].p99)}`,
    ratio: `${(measured[kind].p99 / reference[kind].p99).toFixed(1)} × p99`,
    target: 'p99 ≤ 25 ms',
    met: measured[kind].p99 <= 25 && measured[kind].count === requests.length / 2,
  });
  return {
    title: `POST → patient's relay channel and app (WebSocket), ${RATE} events/s for ${SECONDS} s over ${CALLS} calls (half partial, half final); ${topologyDescription()}`,
    rows: [
      row(ours, 'partial', 'channel: partial (live lane)'),
      row(ours, 'final', 'channel: final (durable lane)'),
      row(app, 'partial', 'WebSocket client: partial'),
      row(app, 'final', 'WebSocket client: final'),
      {
        what: 'delivered / backlog',
        figure: `${ours.partial.count + ours.final.count} of ${requests.length}; waiting ${backlogBefore} → ${backlogAfter}`,
        reference: `${reference.partial.count + reference.final.count} of ${requests.length}`,
        ratio: '',
        target: 'no backlog growth',
        met: backlogAfter <= backlogBefore + RATE / 10,
      },
    ],
    figures: {
      rate: RATE,
      seconds: SECONDS,
      calls: CALLS,
      topology: topologyDescription(),
      channel: ours,
      webSocket: app,
      reference,
      failures: report.failures,
      backlogBefore,
      backlogAfter,
    },
  };
};
