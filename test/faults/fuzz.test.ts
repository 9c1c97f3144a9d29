import { setTimeout as sleep } from 'node:timers/promises';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '#shared/queues/catalog';
import { readEnvelope } from '#shared/vapi/envelope';
import { lacksCallId } from '#shared/vapi/message-types';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { silentLogger, TEST_ENCRYPTION_KEY, TEST_WEBHOOK_SECRET, testConfig } from '../helpers/config.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { freePort, PrivatePostgres, PrivateRedis } from './private-services.ts';
import { RoleProcess } from './role-process.ts';

/** What the contract lets the webhook answer a request that is not an acceptable event. */
const CONTRACT_REFUSALS = [400, 401, 413, 429];
const PREFIX = '{vapi}';
/** The ingress's default WEBHOOK_BODY_LIMIT_BYTES. */
const BODY_LIMIT = 5 * 1024 * 1024;

let redis: PrivateRedis;
let pg: PrivatePostgres;
let connection: Redis;

beforeAll(async () => {
  [redis, pg] = await Promise.all([PrivateRedis.create(), PrivatePostgres.create()]);
  connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
}, 120_000);

afterAll(async () => {
  connection?.disconnect();
  await Promise.all([redis?.destroy(), pg?.destroy()]);
}, 60_000);

/** Jobs of each catalog queue, by state. */
async function jobCounts(): Promise<Record<string, Record<string, number>>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const definition of Object.values(QUEUES)) {
    const queue = new Queue(definition.name, { connection, prefix: PREFIX });
    counts[definition.name] = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    await queue.close();
  }
  return counts;
}

const parseOrNull = (body: Buffer) => {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return null;
  }
};

/** A body the ingress would accept if it were signed: the fuzz signs only bodies that are not one. */
const isAcceptable = (body: Buffer) => {
  const event = readEnvelope(parseOrNull(body));
  return event !== null && !lacksCallId(event);
};

const validEvent = () =>
  Buffer.from(JSON.stringify({ message: { type: 'status-update', status: 'in-progress', call: { id: randomUUID() }, timestamp: Date.now() } }));

const bodies = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
  fc.string({ maxLength: 2048 }).map((text) => Buffer.from(text)),
  fc.json({ maxDepth: 6 }).map((json) => Buffer.from(json)),
  fc.record({ message: fc.anything({ maxDepth: 3 }) }).map((value) => Buffer.from(JSON.stringify(value))),
  // A real event with one byte changed: what a proxy mangling the body looks like.
  fc.nat().map((n) => {
    const body = validEvent();
    const i = n % body.length;
    body[i] = body[i]! ^ (1 + (n % 255));
    return body;
  }),
);

type Signing = 'none' | 'valid' | 'prefixed' | 'flipped' | 'truncated' | 'garbage' | 'other-secret';
const signings = fc.constantFrom<Signing>('none', 'valid', 'prefixed', 'flipped', 'truncated', 'garbage', 'other-secret');
const contentTypes = fc.option(
  fc.oneof(
    fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
    fc.string({ minLength: 1, maxLength: 40 }).filter((t) => /^[\x21-\x7e]+$/.test(t)),
  ),
  { nil: undefined },
);

function signatureOf(body: Buffer, signing: Signing): string | undefined {
  const valid = createHmac('sha256', TEST_WEBHOOK_SECRET).update(body).digest('hex');
  switch (signing) {
    case 'none':
      return undefined;
    case 'valid':
      return valid;
    case 'prefixed':
      return `sha256=${valid}`;
    case 'flipped':
      return `${valid.slice(0, 10)}${valid[10] === 'a' ? 'b' : 'a'}${valid.slice(11)}`;
    case 'truncated':
      return valid.slice(0, 63);
    case 'garbage':
      return randomBytes(8).toString('base64');
    case 'other-secret':
      return createHmac('sha256', 'not-the-secret').update(body).digest('hex');
  }
}

describe('fuzzing the webhook with random and mutated requests', () => {
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    const config = testConfig({
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url(),
      QUEUE_PREFIX: PREFIX,
      // Every refusal here would otherwise count against the one loopback address.
      RATE_LIMIT_UNVERIFIED_PER_MIN: '1000000',
    });
    app = await buildIngressApp({ config, logger: silentLogger() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}${WEBHOOK_PATH}`;
  });
  afterAll(() => app?.close());

  it('answers 10,000 of them with the contract 4xx codes only, queues nothing, and holds its memory flat', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heapAfterGc = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const statuses = new Map<number, number>();
    let sent = 0;
    let heapEarly = 0;

    await fc.assert(
      fc.asyncProperty(bodies, signings, contentTypes, async (body, signing, contentType) => {
        fc.pre(!(isAcceptable(body) && (signing === 'valid' || signing === 'prefixed')));
        const headers: Record<string, string> = {};
        const signature = signatureOf(body, signing);
        if (signature !== undefined) headers['x-vapi-signature'] = signature;
        if (contentType !== undefined) headers['content-type'] = contentType;
        const response = await fetch(url, { method: 'POST', body, headers });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (++sent === 1_000) heapEarly = heapAfterGc();
        expect(CONTRACT_REFUSALS).toContain(response.status);
      }),
      { numRuns: 10_000 },
    );

    const growthMb = (heapAfterGc() - heapEarly) / 1024 / 1024;
    console.log('fuzz: statuses', Object.fromEntries(statuses), `heap growth ${growthMb.toFixed(1)} MB over ${sent - 1_000} requests`);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(growthMb).toBeLessThan(16);
    const counts = await jobCounts();
    for (const [queue, byState] of Object.entries(counts))
      expect({ queue, jobs: Object.values(byState).reduce((a, b) => a + b, 0) }).toEqual({ queue, jobs: 0 });
  }, 600_000);
});

/** `{"a":{"a":…}}` nested `depth` times, written directly (JSON.stringify would recurse as deep). */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** Signed Vapi messages that their SDK's types allow, at the edges: each must be stored or refused, never dead-lettered. */
const hostileMessages = fc
  .record({
    type: fc.constantFrom('status-update', 'transcript', 'end-of-call-report', 'conversation-update', 'hang', 'user-interrupted', 'model-output'),
    number: fc.oneof(fc.constantFrom(1e308, -1e308, 99_999_999.99999, 1e21, -0, 2 ** 53 + 1), fc.double({ noNaN: true })),
    text: fc.oneof(fc.constantFrom('\ud800', 'a\udfffb', '\u0000', 'x\u0000y', '\u202e', '🩺'.repeat(1000)), fc.string({ maxLength: 200 })),
    messages: fc.constantFrom(0, 1, 500, 12_000, 30_000),
    depth: fc.constantFrom(0, 100, 5_000),
    width: fc.constantFrom(0, 1_000, 40_000),
    legacyLayout: fc.boolean(),
  })
  .map(({ type, number, text, messages, depth, width, legacyLayout }) => {
    const conversation = Array.from({ length: messages }, (_, i) => ({
      role: i % 2 ? 'user' : 'bot',
      message: `${text} ${i}`,
      time: number,
      secondsFromStart: i,
    }));
    const wide = Object.fromEntries(Array.from({ length: width }, (_, i) => [`k${i}`, i]));
    const message = {
      type,
      timestamp: number,
      call: { id: randomUUID(), orgId: 'org-fuzz', metadata: wide },
      status: text,
      endedReason: text,
      role: text,
      transcriptType: 'final',
      transcript: text,
      cost: number,
      durationSeconds: number,
      startedAt: number,
      endedAt: text,
      ...(legacyLayout ? { messages: conversation, artifact: { messages: [] } } : { artifact: { messages: conversation, transcript: text } }),
      analysis: { summary: text, successEvaluation: text },
      metadataDeep: '__DEEP__',
    };
    return JSON.stringify({ message }).replace('"__DEEP__"', depth > 0 ? nested(depth) : 'null');
  });

describe('signed but hostile Vapi messages', () => {
  it('are stored or refused, never dead-lettered, without stalling other requests', async () => {
    // The fuzz above spent loopback's budget of failed authentications: start from a clean Redis.
    await connection.flushall();
    const [ingressPort, workerPort] = await Promise.all([freePort(), freePort()]);
    const env = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      DATABASE_URL: pg.url(),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: PREFIX,
      DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      ADMIN_TOKEN: randomBytes(16).toString('hex'),
      VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      PORT: String(ingressPort),
      WORKER_PORT: String(workerPort),
      SPOOL_DIR: mkdtempSync(join(tmpdir(), 'fuzz-spool-')),
    };
    const cwd = mkdtempSync(join(tmpdir(), 'fuzz-roles-'));
    const ingress = new RoleProcess('fuzz', 'ingress', ingressPort, env, cwd);
    const worker = new RoleProcess('fuzz', 'worker', workerPort, env, cwd);
    // The worker starts once the hostile messages are in: the probe times the ingress, not two
    // processes sharing two cores with Postgres and Redis.
    await ingress.start();
    try {
      const url = `${ingress.url}${WEBHOOK_PATH}`;
      // Written before the clock starts, so building them does not count as the ingress's stall.
      const hostile = fc.sample(hostileMessages, { numRuns: 150, seed: 20261201 });
      const before = await jobCounts();
      const loopLagMax = async () => {
        // A keep-alive connection the server closed just as this request reused it is tried once more
        // on a new one (undici's "other side closed"); an ingress that is gone fails both.
        const scrape = () => fetch(`${ingress.url}/metrics`);
        const text = await (await scrape().catch(scrape)).text();
        return Number(/^vapi_relay_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1]) * 1000;
      };
      const statuses = new Map<number, number>();

      /** Sends `bodies` three at a time while a probe times a small ordinary event every 20 ms. */
      async function sendWhileProbing(bodies: string[]) {
        await loopLagMax(); // each scrape starts the event-loop delay histogram afresh
        const probeMs: number[] = [];
        let probing = true;
        const probe = (async () => {
          while (probing) {
            const body = validEvent();
            const startedAt = performance.now();
            const response = await fetch(url, { method: 'POST', body, headers: hmacHeaders(body) });
            await response.arrayBuffer();
            probeMs.push(performance.now() - startedAt);
            await sleep(20);
          }
        })();
        for (let i = 0; i < bodies.length; i += 3) {
          await Promise.all(
            bodies.slice(i, i + 3).map(async (body) => {
              // Over the body limit, the ingress answers 413 without reading the rest: the client may see the reset first.
              const overLimit = Buffer.byteLength(body) > BODY_LIMIT;
              const status = await fetch(url, { method: 'POST', body, headers: hmacHeaders(body) })
                .then(async (response) => (await response.arrayBuffer(), response.status))
                .catch((error: unknown) => (overLimit ? 413 : Promise.reject(error)));
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
            }),
          );
        }
        probing = false;
        await probe;
        probeMs.sort((a, b) => a - b);
        const at = (q: number) => Number(probeMs[Math.min(probeMs.length - 1, Math.floor(probeMs.length * q))]!.toFixed(1));
        return {
          bodies: bodies.length,
          loopStallMaxMs: Number((await loopLagMax()).toFixed(1)),
          probeMs: { p50: at(0.5), p99: at(0.99), max: at(1), n: probeMs.length },
        };
      }

      // Vapi's payloads, end-of-call reports included, stay well under 512 KiB; up to the 5 MiB
      // limit the ingress still takes them, but parsing one on the event loop costs more than 100 ms.
      const usual = hostile.filter((body) => Buffer.byteLength(body) <= 512 * 1024);
      const large = hostile.filter((body) => Buffer.byteLength(body) > 512 * 1024);
      const usualRun = await sendWhileProbing(usual);
      const largeRun = await sendWhileProbing(large);
      await worker.start();

      const events = QUEUES.events.name;
      const settled = await waitFor(async () => {
        const counts = (await jobCounts())[events]!;
        return counts.waiting! + counts.active! + counts.delayed! + counts.prioritized! === 0 && counts;
      }, 300_000);
      console.log('hostile:', JSON.stringify({ statuses: Object.fromEntries(statuses), eventsQueue: settled, upTo512KiB: usualRun, over512KiB: largeRun }));

      expect([...statuses.keys()].filter((status) => status !== 200 && !CONTRACT_REFUSALS.includes(status))).toEqual([]);
      expect(statuses.get(200)).toBeGreaterThan(0);
      expect(statuses.get(429)).toBeUndefined();
      expect(settled.failed).toBe(before[events]!.failed);
      // No request waited behind a hostile one of the usual sizes for 100 ms: the ingress's event loop never stalled that long.
      expect(usual.length).toBeGreaterThan(20);
      expect(usualRun.loopStallMaxMs).toBeLessThan(100);
    } finally {
      await Promise.all([ingress.destroy(), worker.destroy()]);
    }
  }, 900_000);
});
