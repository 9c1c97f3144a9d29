/**
 * Bench section: the relay.
 *
 * - Idle clients: a relay process (a child, so its RSS is its own) holds N idle WebSocket clients,
 *   each of another patient (one channel subscription each), opened from a second child. Reference:
 *   a bare `ws` server holding the same clients. Goal: 10,000 clients under 512 MB.
 * - Delivery latency: live events published on Redis at 1,000/s, timed from the publish to a
 *   connected WebSocket client of the relay. Reference: a plain Redis subscriber of the same
 *   channel, receiving the same publishes in the same run.
 * - Flood: a victim patient's live partials through the relay while another patient, from a process
 *   of its own (`relay-attacker.ts`) and with one valid token, opens 20 sockets and keeps asking for
 *   the whole of a 4 MB session of its own. Reference: the same partials without it, in quiet parts
 *   that alternate with the flooded ones in the same run.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { loadConfig, type RelayConfig } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { sessionEvents, vapiSessions } from '#shared/db/schema';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { patientChannel, type LiveRelayEvent } from '#shared/relay';
import { openForPatient } from '#shared/relay-messages';
import { signRelayToken } from '#shared/relay-token';
import { STREAM_PATH } from '../../services/relay/plugins/stream.ts';
import { BENCH_DATABASE_URL, benchEnvironment, ms, silentLogger, summarise } from './bench-environment.ts';
import type { AttackPlan, AttackReport } from './relay-attacker.ts';
import { publishPartials, relayClient, rssOf, settle, startChild, stop, usageOf } from './relay-processes.ts';
import type { BenchRun } from './section.ts';

const CLIENTS = Number(process.env.BENCH_RELAY_CLIENTS ?? 10_000);
const EVENTS_PER_S = 1_000;
const EVENTS = Number(process.env.BENCH_RELAY_EVENTS ?? 3_000);
const MEMORY_LIMIT_MB = 512;
const FLOOD_S = Number(process.env.BENCH_RELAY_FLOOD_S ?? 10);
/** The flood's seconds are played in this many rounds, each a quiet part then a flooded one. */
const FLOOD_ROUNDS = 5;
const VICTIM_PER_S = 200;
const FLOOD_SOCKETS = 20;
/** The attacker's session: 4,000 stored events of about 1 KB. */
const FLOOD_SESSION_EVENTS = 4_000;
const ATTACKER = fileURLToPath(new URL('./relay-attacker.ts', import.meta.url));

const mb = (bytes: number) => bytes / 1024 / 1024;

/** Memory of a server (relay or bare `ws`) holding `CLIENTS` idle clients opened by another child. */
async function idleClients(kind: 'relay' | 'bare', env: NodeJS.ProcessEnv) {
  const config = loadConfig(env, ['relay']);
  const { child: server, first } = await startChild(['server', kind], env);
  const url = (first as { ready: string }).ready;
  global.gc?.();
  const before = await rssOf(server);
  const { child: clients, first: opened } = await startChild(['clients', url, String(CLIENTS)], {
    ...env,
    BENCH_TOKEN_SECRET: config.relayJwtSecret,
  });
  const after = await rssOf(server);
  await stop(clients);
  await stop(server);
  return { opened: (opened as { opened: number }).opened, beforeMb: mb(before), afterMb: mb(after), perClientKb: (after - before) / 1024 / CLIENTS };
}

/** Publish → receipt latencies (ms) of live events, at a WebSocket client of a relay and at a plain subscriber. */
async function deliveryLatency(env: NodeJS.ProcessEnv) {
  const config = loadConfig(env, ['relay']);
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const { child: server, first } = await startChild(['server', 'relay'], env);
  const url = (first as { ready: string }).ready;
  const channel = patientChannel(config.queuePrefix, 'bench-patient');
  const publisher = createRedis(config.redis, 'worker', silentLogger);
  const subscriber = createRedis(config.redis, 'subscriber', silentLogger);
  const sentAt = new Map<number, number>();
  const viaRelay: number[] = [];
  const viaRedis: number[] = [];

  await subscriber.subscribe(channel);
  subscriber.on('message', (_channel, text: string) => {
    const event = openForPatient(cipher, 'bench-patient', text);
    viaRedis.push(performance.now() - sentAt.get(event.data.n as number)!);
  });
  const ws = await relayClient(url, 'bench-patient', config.relayJwtSecret, publisher, channel, 2);
  ws.on('message', (raw) => {
    const event = JSON.parse(raw.toString()) as LiveRelayEvent;
    viaRelay.push(performance.now() - sentAt.get(event.data.n as number)!);
  });
  await publishPartials(publisher, cipher, { prefix: config.queuePrefix, patientId: 'bench-patient' }, [0, EVENTS], EVENTS_PER_S, sentAt);
  await settle(() => viaRelay.length >= EVENTS && viaRedis.length >= EVENTS);
  ws.close();
  subscriber.disconnect();
  await deleteKeysWithPrefix(publisher, config.queuePrefix);
  publisher.disconnect();
  await stop(server);
  return { relay: summarise(viaRelay), redis: summarise(viaRedis) };
}

/** Stores the attacker's session, about 1 KB an event as the relay sends it; returns its size in bytes. */
async function storeFloodSession(config: RelayConfig, patientId: string, sessionId: string): Promise<number> {
  const { db, close } = createDatabase(BENCH_DATABASE_URL);
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  await db.insert(vapiSessions).values({ id: sessionId, patientId, status: 'completed' });
  let bytes = 0;
  for (let seq = 1; seq <= FLOOD_SESSION_EVENTS; seq += 500) {
    const rows = Array.from({ length: 500 }, (_, i) => {
      const at = new Date();
      const data = {
        role: 'user',
        transcript: `${seq + i} ${'I would like to book a follow-up visit next Tuesday. '.repeat(17)}`,
        timestamp: at.toISOString(),
        final: true,
      };
      bytes += JSON.stringify({ type: 'transcript', sessionId, seq: seq + i, at: at.toISOString(), data }).length;
      return { sessionId, seq: seq + i, type: 'transcript', at, data: cipher.encryptJson(data), dispatchedAt: at };
    });
    await db.insert(sessionEvents).values(rows);
  }
  await close();
  return bytes;
}

/** One of the relay's metrics (the first series of `name`), from its `/metrics`, on a connection of its own (a kept-alive one may be closed under it). */
async function relayMetric(url: string, name: string): Promise<number> {
  const [response] = (await once(http.get(`${url.replace(/^ws/, 'http').replace(STREAM_PATH, '')}/metrics`, { agent: false }), 'response')) as [
    http.IncomingMessage,
  ];
  let text = '';
  for await (const chunk of response) text += chunk;
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/**
 * A victim's live partials through a relay, in rounds that alternate a quiet part and a part where
 * an attacker child floods the same relay, so that whatever else the machine does weighs on both
 * alike: latencies, the relay's CPU share and bytes sent, for each kind of part.
 */
async function floodLatency(env: NodeJS.ProcessEnv) {
  const config = loadConfig(env, ['relay']);
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const sessionId = `bench-flood-${randomUUID()}`;
  const sessionBytes = await storeFloodSession(config, 'bench-attacker', sessionId);
  const { child: server, first } = await startChild(['server', 'relay'], env);
  const url = (first as { ready: string }).ready;
  const channel = patientChannel(config.queuePrefix, 'bench-victim');
  const publisher = createRedis(config.redis, 'worker', silentLogger);
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  const ws = await relayClient(url, 'bench-victim', config.relayJwtSecret, publisher, channel, 1);
  ws.on('message', (raw) => {
    const n = (JSON.parse(raw.toString()) as LiveRelayEvent).data.n as number;
    latencies[n] = performance.now() - sentAt.get(n)!;
  });
  const emptyPart = () => ({ latencies: [] as number[], cpuUs: 0, ms: 0, bytesSent: 0, loopDelayMaxMs: 0 });
  const parts = { quiet: emptyPart(), flood: emptyPart() };
  const perPart = (FLOOD_S * VICTIM_PER_S) / FLOOD_ROUNDS;
  let next = 0;
  /** Plays the next `perPart` partials, adding their latencies and the relay's CPU time and bytes sent meanwhile to `part`. */
  const play = async (part?: (typeof parts)['quiet']) => {
    const from = next;
    next += perPart;
    const [usage, bytes, started] = [await usageOf(server), await relayMetric(url, 'vapi_relay_ws_bytes_sent_total'), performance.now()];
    await publishPartials(publisher, cipher, { prefix: config.queuePrefix, patientId: 'bench-victim' }, [from, next], VICTIM_PER_S, sentAt);
    const received = () => latencies.slice(from, next).filter((latency) => latency !== undefined);
    await settle(() => received().length === perPart);
    if (!part) return;
    part.latencies.push(...received());
    const after = await usageOf(server);
    part.cpuUs += after.cpuUs - usage.cpuUs;
    part.loopDelayMaxMs = Math.max(part.loopDelayMaxMs, after.loopDelayMaxMs);
    part.ms += performance.now() - started;
    part.bytesSent += (await relayMetric(url, 'vapi_relay_ws_bytes_sent_total')) - bytes;
  };

  const attacker = fork(ATTACKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const token = signRelayToken({ patientId: 'bench-attacker', expiresAt: Math.floor(Date.now() / 1000) + 3600 }, config.relayJwtSecret);
  const tell = async (message: AttackPlan | 'pause' | 'stop') => {
    attacker.send(message);
    return ((await once(attacker, 'message')) as [unknown])[0];
  };
  await play(); // warm-up
  for (let round = 0; round < FLOOD_ROUNDS; round++) {
    await play(parts.quiet);
    await tell({ url, token, sessionId, sockets: FLOOD_SOCKETS, everyMs: 20 });
    await play(parts.flood);
    await tell('pause');
    // The next quiet part begins once the relay has let go of every attacking socket.
    while ((await relayMetric(url, 'vapi_relay_ws_connections')) > 1) await sleep(20);
  }
  const attack = (await tell('stop')) as AttackReport;

  ws.close();
  await deleteKeysWithPrefix(publisher, config.queuePrefix);
  publisher.disconnect();
  await stop(server);
  const { db, close } = createDatabase(BENCH_DATABASE_URL);
  await db.delete(vapiSessions).where(eq(vapiSessions.id, sessionId));
  await close();
  const summary = ({ latencies, cpuUs, ms, bytesSent, loopDelayMaxMs }: (typeof parts)['quiet']) => ({
    ...summarise(latencies),
    cpuPercent: cpuUs / 10 / ms,
    bytesSent,
    loopDelayMaxMs,
  });
  return {
    count: perPart * FLOOD_ROUNDS,
    sessionBytes,
    maxSockets: config.relayMaxSocketsPerPatient,
    quiet: summary(parts.quiet),
    flood: summary(parts.flood),
    attack,
  };
}

export const benchRelay: BenchRun = async () => {
  await migrateDatabase(BENCH_DATABASE_URL);
  // The children read their config from this environment: the bench's secrets and queue prefix.
  const env = { ...process.env, ...benchEnvironment() };
  const relay = await idleClients('relay', env);
  const bare = await idleClients('bare', env);
  const latency = await deliveryLatency(env);
  const flooded = await floodLatency(env);
  const heldUnderLimit = relay.opened === CLIENTS && relay.afterMb < MEMORY_LIMIT_MB;
  // Extrapolated from the measured cost per client; the row's verdict rests on the measured RSS.
  const capacity = Math.floor(((MEMORY_LIMIT_MB - relay.beforeMb) * 1024) / relay.perClientKb);
  return {
    title: 'Relay',
    rows: [
      {
        what: `idle WebSocket clients held (${CLIENTS.toLocaleString('en')} opened), relay RSS`,
        figure: `${relay.opened.toLocaleString('en')} clients, ${relay.afterMb.toFixed(0)} MB (${relay.perClientKb.toFixed(1)} KB each, ≈ ${capacity.toLocaleString('en')} under ${MEMORY_LIMIT_MB} MB)`,
        reference: `bare ws server: ${bare.afterMb.toFixed(0)} MB (${bare.perClientKb.toFixed(1)} KB each)`,
        ratio: `${(relay.perClientKb / bare.perClientKb).toFixed(2)}× per client`,
        target: `≥ 10,000 clients under ${MEMORY_LIMIT_MB} MB`,
        met: heldUnderLimit && CLIENTS >= 10_000,
      },
      {
        what: `delivery, Redis publish → WebSocket client at ${EVENTS_PER_S.toLocaleString('en')} events/s, median / p99`,
        figure: `${ms(latency.relay.p50)} / ${ms(latency.relay.p99)} (${latency.relay.count}/${EVENTS} received)`,
        reference: `plain Redis subscriber: ${ms(latency.redis.p50)} / ${ms(latency.redis.p99)}`,
        ratio: `${(latency.relay.p99 / latency.redis.p99).toFixed(2)}× at p99`,
        target: 'p99 ≤ 25 ms',
        met: latency.relay.count === EVENTS && latency.relay.p99 <= 25,
      },
      {
        what: `a patient's live partials at ${VICTIM_PER_S}/s while another floods the relay (${FLOOD_SOCKETS} sockets re-subscribing afterSeq 0 to ${mb(flooded.sessionBytes).toFixed(1)} MB), median / p99`,
        figure:
          `${ms(flooded.flood.p50)} / ${ms(flooded.flood.p99)} (${flooded.flood.count}/${flooded.count} received; ${flooded.attack.accepted.join('/')} of ${FLOOD_SOCKETS} sockets accepted, ` +
          `the rest 429; relay sent ${mb(flooded.flood.bytesSent).toFixed(1)} MB in ${FLOOD_S} s at ${flooded.flood.cpuPercent.toFixed(0)} % CPU)`,
        reference: `no flood, alternating with it: ${ms(flooded.quiet.p50)} / ${ms(flooded.quiet.p99)} (${mb(flooded.quiet.bytesSent).toFixed(1)} MB at ${flooded.quiet.cpuPercent.toFixed(0)} % CPU)`,
        ratio: `${(flooded.flood.p99 / flooded.quiet.p99).toFixed(2)}× at p99`,
        target: 'p99 within 2× of no flood',
        met:
          flooded.flood.count === flooded.count &&
          flooded.flood.p99 <= 2 * flooded.quiet.p99 &&
          flooded.attack.accepted.every((accepted) => accepted === flooded.maxSockets),
      },
    ],
    figures: { clients: CLIENTS, relayIdle: relay, bareIdle: bare, clientsUnderLimit: capacity, latency, flooded },
  };
};
