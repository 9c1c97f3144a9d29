/**
 * Bench section: the relay.
 *
 * - Idle clients: a relay process (a child, so its RSS is its own) holds N idle WebSocket clients,
 *   each of another patient (one channel subscription each), opened from a second child. Reference:
 *   a bare `ws` server holding the same clients. Goal: 10,000 clients under 512 MB.
 * - Delivery latency: live events published on Redis at 1,000/s, timed from the publish to a
 *   connected WebSocket client of the relay. Reference: a plain Redis subscriber of the same
 *   channel, receiving the same publishes in the same run.
 *
 * This file is also the children's entry point (`--relay-child server|clients …`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer } from 'ws';
import { loadConfig } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { migrateDatabase } from '#shared/db/migrate';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { patientChannel, type LiveRelayEvent } from '#shared/relay';
import { buildRelayApp } from '../../services/relay/app.ts';
import { signRelayToken } from '../../services/relay/lib/relay-token.ts';
import { STREAM_PATH } from '../../services/relay/plugins/stream.ts';
import { BENCH_DATABASE_URL, benchEnvironment, ms, silentLogger, summarise } from './bench-environment.ts';
import type { BenchRun } from './section.ts';

const CLIENTS = Number(process.env.BENCH_RELAY_CLIENTS ?? 10_000);
const EVENTS_PER_S = 1_000;
const EVENTS = Number(process.env.BENCH_RELAY_EVENTS ?? 3_000);
const MEMORY_LIMIT_MB = 512;

const mb = (bytes: number) => bytes / 1024 / 1024;

type ChildMessage = { ready: string } | { rss: number } | { opened: number };

/** Starts this file as a child in one of its roles, and waits for its first message. */
async function startChild(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; first: ChildMessage }> {
  const child = fork(fileURLToPath(import.meta.url), ['--relay-child', ...args], { env, execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const [first] = (await once(child, 'message')) as [ChildMessage];
  return { child, first };
}

/** Asks a server child for its resident memory. */
async function rssOf(child: ChildProcess): Promise<number> {
  child.send('rss');
  const [message] = (await once(child, 'message')) as [{ rss: number }];
  return message.rss;
}

async function stop(child: ChildProcess) {
  child.kill('SIGTERM');
  if (child.exitCode === null) await once(child, 'exit');
}

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
  const logger = silentLogger;
  const { child: server, first } = await startChild(['server', 'relay'], env);
  const url = (first as { ready: string }).ready;
  const patientId = 'bench-patient';
  const channel = patientChannel(config.queuePrefix, patientId);
  const publisher = createRedis(config.redis, 'worker', logger);
  const subscriber = createRedis(config.redis, 'subscriber', logger);
  const sentAt = new Map<number, number>();
  const viaRelay: number[] = [];
  const viaRedis: number[] = [];

  await subscriber.subscribe(channel);
  subscriber.on('message', (_channel, text: string) => {
    const event = cipher.decryptJson<LiveRelayEvent>(text);
    viaRedis.push(performance.now() - sentAt.get(event.data.n as number)!);
  });
  const token = signRelayToken({ patientId, expiresAt: Math.floor(Date.now() / 1000) + 3600 }, config.relayJwtSecret);
  const ws = new WebSocket(`${url}?token=${token}`);
  ws.on('message', (raw) => {
    const event = JSON.parse(raw.toString()) as LiveRelayEvent;
    viaRelay.push(performance.now() - sentAt.get(event.data.n as number)!);
  });
  await once(ws, 'open');
  // The relay subscribes the patient's channel as the client connects: wait until Redis says so.
  while (((await publisher.pubsub('NUMSUB', channel)) as [string, number])[1] < 2) await new Promise((r) => setTimeout(r, 20));

  const started = performance.now();
  for (let n = 0; n < EVENTS; n++) {
    const due = started + (n * 1000) / EVENTS_PER_S;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const at = new Date().toISOString();
    const event: LiveRelayEvent = { type: 'transcript', sessionId: 'bench-call', at, data: { n, role: 'user', transcript: 'I would like to move my appointment', timestamp: at, final: false } };
    const text = cipher.encryptJson(event);
    sentAt.set(n, performance.now());
    void publisher.publish(channel, text);
  }
  const deadline = Date.now() + 10_000;
  while ((viaRelay.length < EVENTS || viaRedis.length < EVENTS) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  ws.close();
  subscriber.disconnect();
  await deleteKeysWithPrefix(publisher, config.queuePrefix);
  publisher.disconnect();
  await stop(server);
  return { relay: summarise(viaRelay), redis: summarise(viaRedis) };
}

export const benchRelay: BenchRun = async () => {
  await migrateDatabase(BENCH_DATABASE_URL);
  // The children read their config from this environment: the bench's secrets and queue prefix.
  const env = { ...process.env, ...benchEnvironment() };
  const relay = await idleClients('relay', env);
  const bare = await idleClients('bare', env);
  const latency = await deliveryLatency(env);
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
    ],
    figures: { clients: CLIENTS, relayIdle: relay, bareIdle: bare, clientsUnderLimit: capacity, latency },
  };
};

/** Child: a relay (or a bare `ws` server) that reports its address, then its RSS on request. */
async function serveChild(kind: string) {
  let address: string;
  let close: () => Promise<unknown>;
  if (kind === 'relay') {
    const config = loadConfig(process.env, ['relay']);
    const app = await buildRelayApp({ config, logger: silentLogger });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    address = `${base.replace('http', 'ws')}${STREAM_PATH}`;
    close = () => app.close();
  } else {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    address = `ws://127.0.0.1:${(wss.address() as { port: number }).port}${STREAM_PATH}`;
    close = () => new Promise((resolve) => wss.close(resolve));
  }
  process.on('message', () => process.send!({ rss: process.memoryUsage().rss }));
  process.on('SIGTERM', () => void close().finally(() => process.exit(0)));
  process.send!({ ready: address });
}

/** Child: opens `count` idle clients, each of its own patient, a few hundred at a time; reports how many opened. */
async function clientsChild(url: string, count: number) {
  const secret = process.env.BENCH_TOKEN_SECRET!;
  const expiresAt = Math.floor(Date.now() / 1000) + 3600;
  const sockets: WebSocket[] = [];
  let opened = 0;
  for (let i = 0; i < count; i += 250) {
    await Promise.all(
      Array.from({ length: Math.min(250, count - i) }, async (_, j) => {
        const ws = new WebSocket(url, { headers: { authorization: `Bearer ${signRelayToken({ patientId: `bench-${i + j}`, expiresAt }, secret)}` } });
        ws.on('error', () => undefined);
        sockets.push(ws);
        if (await Promise.race([once(ws, 'open').then(() => true), once(ws, 'close').then(() => false)])) opened++;
      }),
    );
  }
  // Let the server settle (subscriptions confirmed, buffers released) before it is measured.
  await new Promise((r) => setTimeout(r, 1_000));
  process.send!({ opened });
  process.on('SIGTERM', () => {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  });
}

const childAt = process.argv.indexOf('--relay-child');
if (childAt >= 0) {
  const [role, ...rest] = process.argv.slice(childAt + 1);
  await (role === 'server' ? serveChild(rest[0]!) : clientsChild(rest[0]!, Number(rest[1])));
}
