import { createHmac, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { WebSocket, type ClientOptions } from 'ws';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import type { DatabaseHandle } from '#shared/db/client';
import { sessionEvents, vapiSessions } from '#shared/db/schema';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { sealForPatient } from '#shared/relay-messages';
import { signRelayToken } from '#shared/relay-token';
import { STREAM_PATH } from '../../services/relay/plugins/stream.ts';

/** A token for the test config's relay secret, valid for an hour unless told otherwise. */
export const tokenFor = (config: Config, patientId: string, options: { sessionId?: string; ttlS?: number } = {}) =>
  signRelayToken(
    { patientId, expiresAt: Math.floor(Date.now() / 1000) + (options.ttlS ?? 3600), ...(options.sessionId ? { sessionId: options.sessionId } : {}) },
    config.relayJwtSecret,
  );

/** An HS256 JWT of any claims and header, for tokens `signRelayToken` would never mint. */
export function craftToken(claims: unknown, secret: string, header: unknown = { alg: 'HS256', typ: 'JWT' }): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${b64(header)}.${b64(claims)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** The `ws://` address of a listening relay's stream. */
export const streamUrl = (relay: FastifyInstance) => {
  const { port } = relay.server.address() as { port: number };
  return `ws://127.0.0.1:${port}${STREAM_PATH}`;
};

/** A connected test client that keeps everything it receives. */
export interface TestClient {
  ws: WebSocket;
  received: Record<string, unknown>[];
  /** Sequenced events of one session, in arrival order. */
  seqs(sessionId: string): number[];
  closed: Promise<number>;
  subscribe(sessionId: string, afterSeq: number): void;
  /** Resolves once `condition` holds, checked now and on each message: no timer, so it works under a fake clock. */
  until(condition: () => boolean): Promise<void>;
}

/** Opens a client with the token in the Authorization header; resolves once the socket is open. */
export async function openClient(url: string, token: string, options: ClientOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(url, { ...options, headers: { authorization: `Bearer ${token}` } });
  const received: Record<string, unknown>[] = [];
  const waiting = new Set<() => void>();
  ws.on('message', (raw) => {
    received.push(JSON.parse(raw.toString()) as Record<string, unknown>);
    for (const check of waiting) check();
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    received,
    closed,
    seqs: (sessionId) => received.filter((m) => m.sessionId === sessionId && typeof m.seq === 'number').map((m) => m.seq as number),
    subscribe: (sessionId, afterSeq) => ws.send(JSON.stringify({ type: 'subscribe', sessionId, afterSeq })),
    until: (condition) =>
      new Promise((resolve) => {
        const check = () => {
          if (!condition()) return;
          waiting.delete(check);
          resolve();
        };
        waiting.add(check);
        check();
      }),
  };
}

/** How an upgrade request was answered: status 0 when it was accepted, else the HTTP refusal. */
export function upgradeResponse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? -1, headers: response.headers, body });
        ws.terminate();
      });
    });
    ws.on('open', () => {
      resolve({ status: 0, headers: {}, body: '' });
      ws.close();
    });
    ws.on('error', () => undefined);
  });
}

/** The HTTP status an upgrade request is refused with (0 if it was accepted). */
export const upgradeStatus = async (url: string, headers: Record<string, string> = {}) => (await upgradeResponse(url, headers)).status;

/**
 * Stores and publishes relay events the way the worker's outbox does: a `session_events` row
 * (encrypted), then the encrypted event on the patient's channel.
 */
export function eventWriter(config: Config, handle: DatabaseHandle, redis: Redis) {
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const eventOf = (sessionId: string, seq: number, padding: number): RelayEvent => ({
    type: 'transcript',
    sessionId,
    seq,
    at: new Date().toISOString(),
    data: { role: 'user', transcript: `utterance ${seq}${' and so on'.repeat(padding / 10)}`, timestamp: new Date().toISOString(), final: true },
  });
  return {
    cipher,
    /** A new session of the patient, with no events yet. */
    async session(patientId: string): Promise<string> {
      const id = randomUUID();
      await handle.db.insert(vapiSessions).values({ id, patientId, status: 'in-progress' });
      return id;
    },
    /** Stores events `seqs` of a session without publishing them; `padding` lengthens each transcript by that many bytes. */
    async store(sessionId: string, seqs: number[], { padding = 0 } = {}): Promise<RelayEvent[]> {
      const events = seqs.map((seq) => eventOf(sessionId, seq, padding));
      const rows = events.map((event) => ({
        sessionId,
        seq: event.seq!,
        type: event.type,
        at: new Date(event.at),
        data: cipher.encryptJson(event.data),
        dispatchedAt: new Date(),
      }));
      for (let i = 0; i < rows.length; i += 500) await handle.db.insert(sessionEvents).values(rows.slice(i, i + 500));
      return events;
    },
    /** Publishes stored events (or live-only ones) on the patient's channel. */
    async publish(patientId: string, events: (RelayEvent | Omit<RelayEvent, 'seq'>)[]): Promise<void> {
      for (const event of events) await redis.publish(patientChannel(config.queuePrefix, patientId), sealForPatient(cipher, patientId, event));
    },
    async storeAndPublish(patientId: string, sessionId: string, seqs: number[]): Promise<void> {
      await this.publish(patientId, await this.store(sessionId, seqs));
    },
  };
}

/** How many of the relay's page reads (`readSessionEvents`) wait on a lock, e.g. the test's own `lock table`. */
export async function pageReadsWaitingOnLock(handle: DatabaseHandle): Promise<number> {
  const [row] =
    await handle.sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%from "vapi_sessions" left join lateral%'`;
  return row!.n as number;
}

/** The relay's count of a metric (summed over labels matching `labels`). */
export async function metricValue(relay: FastifyInstance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = relay.metrics.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([key, value]) => String(v.labels[key]) === value)).reduce((sum, v) => sum + v.value, 0);
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
