/**
 * The relay bench's moving parts: its children (this file is their entry point, `--relay-child
 * server relay|bare` or `--relay-child clients URL COUNT`), a client of the relay, and live partials
 * published at a steady pace.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { loadConfig } from '#shared/config';
import type { FieldCipher } from '#shared/crypto';
import type { RedisClient } from '#shared/redis';
import { patientChannel, type LiveRelayEvent } from '#shared/relay';
import { sealForPatient } from '#shared/relay-messages';
import { buildRelayApp } from '../../services/relay/app.ts';
import { signRelayToken } from '#shared/relay-token';
import { STREAM_PATH } from '../../services/relay/plugins/stream.ts';
import { silentLogger } from './bench-environment.ts';

export type ChildMessage = { ready: string } | Usage | { opened: number };
/** A server child's resident memory (bytes), CPU time so far (µs), and its event loop's longest delay since it was last asked. */
export interface Usage {
  rss: number;
  cpuUs: number;
  loopDelayMaxMs: number;
}

/** Starts this file as a child in one of its roles, and waits for its first message. */
export async function startChild(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; first: ChildMessage }> {
  const child = fork(fileURLToPath(import.meta.url), ['--relay-child', ...args], { env, execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const [first] = (await once(child, 'message')) as [ChildMessage];
  return { child, first };
}

/** Asks a server child for its resident memory and CPU time. */
export async function usageOf(child: ChildProcess): Promise<Usage> {
  child.send('usage');
  const [message] = (await once(child, 'message')) as [Usage];
  return message;
}

/** A server child's resident memory (bytes). */
export const rssOf = async (child: ChildProcess) => (await usageOf(child)).rss;

/** Stops a child and waits until it has exited. */
export async function stop(child: ChildProcess) {
  child.kill('SIGTERM');
  if (child.exitCode === null) await once(child, 'exit');
}

/** Publishes live partials numbered `from` to `to - 1` (`data.n`) on a patient's channel, paced at `perSecond`, noting when each was sent. */
export async function publishPartials(
  publisher: RedisClient,
  cipher: FieldCipher,
  { prefix, patientId }: { prefix: string; patientId: string },
  [from, to]: [number, number],
  perSecond: number,
  sentAt: Map<number, number>,
) {
  const channel = patientChannel(prefix, patientId);
  const started = performance.now();
  for (let n = from; n < to; n++) {
    const due = started + ((n - from) * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const at = new Date().toISOString();
    const event: LiveRelayEvent = {
      type: 'transcript',
      sessionId: 'bench-call',
      at,
      data: { n, role: 'user', transcript: 'I would like to move my appointment', timestamp: at, final: false },
    };
    const text = sealForPatient(cipher, patientId, event);
    sentAt.set(n, performance.now());
    void publisher.publish(channel, text);
  }
}

/** Waits until `done()` holds, for at most `ms`. */
export async function settle(done: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(20);
}

/** A WebSocket client of `patientId` on the relay at `url`, once the relay receives the patient's channel. */
export async function relayClient(url: string, patientId: string, secret: string, publisher: RedisClient, channel: string, subscribers: number) {
  const ws = new WebSocket(`${url}?token=${signRelayToken({ patientId, expiresAt: Math.floor(Date.now() / 1000) + 3600 }, secret)}`);
  // A connection the relay resets is reported, not a crash of the whole bench (its figures then show the loss).
  ws.on('error', (error) => console.error(`relay client of ${patientId}: ${error.message}`));
  await once(ws, 'open');
  // The relay subscribes the patient's channel as the client connects: wait until Redis says so.
  while (((await publisher.pubsub('NUMSUB', channel)) as [string, number])[1] < subscribers) await sleep(20);
  return ws;
}

/** Child: a relay (or a bare `ws` server) that reports its address, then its usage (memory, CPU, event loop delay) on request. */
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
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  process.on('message', () => {
    const cpu = process.cpuUsage();
    process.send!({ rss: process.memoryUsage().rss, cpuUs: cpu.user + cpu.system, loopDelayMaxMs: loop.max / 1e6 } satisfies Usage);
    loop.reset();
  });
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
