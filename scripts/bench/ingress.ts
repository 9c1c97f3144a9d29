/**
 * Bench section: the ingress at full speed. Ours: the real ingress (verify, dedup, seal, enqueue,
 * log at info, metrics). References in the same run: (a) a minimal Fastify route that verifies the
 * HMAC and does one plain `queue.add`; (b) a bare Fastify route parsing the same body.
 * The load generator runs in its own process.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { createLogger } from '#shared/logger';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '../../services/ingress/routes/webhook.ts';
import { benchConfig, ratio, signedHeaders, silentLogger, transcriptBody } from './bench-environment.ts';
import { generateLoad } from './load.ts';
import type { BenchRun } from './section.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4_000);
const CONCURRENCY = 32;

async function listen(app: FastifyInstance) {
  return `${await app.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
}

export const benchIngress: BenchRun = async () => {
  const config = benchConfig();
  const secret = config.vapi.secrets[0]!;
  const redis = createRedis(config.redis, 'worker', silentLogger);
  const plainQueue = new Queue('bench-plain', { connection: redis, prefix: config.queuePrefix });

  const bare = Fastify();
  bare.post(WEBHOOK_PATH, async () => ({ received: true }));
  const minimal = Fastify();
  // Raw bytes, as a signature check needs them.
  minimal.removeAllContentTypeParsers();
  minimal.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  minimal.post(WEBHOOK_PATH, async (request, reply) => {
    const raw = request.body as Buffer;
    const expected = createHmac('sha256', secret).update(raw).digest();
    const given = Buffer.from(String(request.headers['x-vapi-signature']), 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply.code(401).send({ success: false });
    const event = JSON.parse(raw.toString('utf8')) as { message: { type: string } };
    await plainQueue.add(event.message.type, { body: raw.toString('utf8') });
    return { received: true };
  });
  // Production logging: JSON lines at info, written (here to /dev/null) rather than dropped.
  const logger = createLogger({ level: 'info', service: 'bench', pretty: false, destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const ingress = await buildIngressApp({ config, logger });

  const run = async (url: string) => {
    const requests = Array.from({ length: REQUESTS }, (_, i) => {
      const body = transcriptBody(`bench-call-${i % 50}`, randomUUID(), true);
      return { body, headers: signedHeaders(secret, body) };
    });
    const report = await generateLoad({ url, requests: requests.slice(0, 200), concurrency: CONCURRENCY }).then(() => generateLoad({ url, requests, concurrency: CONCURRENCY }));
    if (report.failures > 0) throw new Error(`${report.failures} requests failed`);
    return REQUESTS / report.seconds;
  };
  const bareRate = await run(await listen(bare));
  const minimalRate = await run(await listen(minimal));
  const oursRate = await run(await listen(ingress));

  await Promise.all([bare.close(), minimal.close(), ingress.close(), plainQueue.close()]);
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();

  const perSecond = (n: number) => `${Math.round(n)} req/s`;
  return {
    title: `ingress throughput (${REQUESTS} signed final transcripts, ${CONCURRENCY} concurrent)`,
    rows: [
      { what: 'vs verify + one queue.add', figure: perSecond(oursRate), reference: perSecond(minimalRate), ratio: ratio(oursRate / minimalRate), target: '≥ 1.0 ×', met: oursRate >= minimalRate },
      { what: 'vs bare Fastify route', figure: perSecond(oursRate), reference: perSecond(bareRate), ratio: ratio(oursRate / bareRate), target: '≥ 0.5 ×', met: oursRate >= 0.5 * bareRate },
    ],
    figures: { requests: REQUESTS, concurrency: CONCURRENCY, oursPerSecond: oursRate, minimalPerSecond: minimalRate, barePerSecond: bareRate },
  };
};
