/**
 * Bench section: the ingress at full speed. Ours: the real ingress (verify, dedup, seal, enqueue,
 * log at info, metrics). References in the same run: (a) a minimal Fastify route that verifies the
 * HMAC and does one plain `queue.add`; (b) a bare Fastify route parsing the same body. autocannon
 * drives all three from a process of its own; the bare route also measures the paced sections'
 * own generator (load-generator.ts) against autocannon, so their figures are known not to be its.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { createLogger } from '#shared/logger';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { benchConfig, ratio, signedHeaders, silentLogger, transcriptBody } from './bench-environment.ts';
import { fireCannon, generateLoad } from './load.ts';
import type { BenchRun } from './section.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_INGRESS_ROUNDS ?? 3);
const CONNECTIONS = 50;

async function listen(app: FastifyInstance) {
  return `${await app.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

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

  const signedFinals = (count: number) =>
    Array.from({ length: count }, (_, i) => {
      const body = transcriptBody(`bench-call-${i % 50}`, randomUUID(), true);
      return { body, headers: signedHeaders(secret, body) };
    });
  // Every request its own body (none a duplicate), a short warm-up first, autocannon in its own
  // process. The servers are this process's only work meanwhile, so its CPU time is theirs: a
  // figure that other load on the machine moves far less than it moves a rate.
  const cpuPerRequest: Record<'bare' | 'minimal' | 'ours', number[]> = { bare: [], minimal: [], ours: [] };
  const cannon = async (url: string, server: keyof typeof cpuPerRequest) => {
    await fireCannon({ url, requests: signedFinals(500), connections: CONNECTIONS });
    const requests = signedFinals(REQUESTS);
    const before = process.cpuUsage();
    const report = await fireCannon({ url, requests, connections: CONNECTIONS });
    const { user, system } = process.cpuUsage(before);
    if (report.failures > 0) throw new Error(`${report.failures} of ${REQUESTS} requests to ${url} were not answered 2xx`);
    cpuPerRequest[server].push((user + system) / REQUESTS);
    return report.perSecond;
  };
  // The paced sections' own generator, closed-loop on the bare route: it must keep up with autocannon there.
  const generator = async (url: string) => {
    const report = await generateLoad({ url, requests: signedFinals(REQUESTS), concurrency: CONNECTIONS });
    if (report.failures > 0) throw new Error(`${report.failures} of ${REQUESTS} requests to ${url} were not answered 2xx`);
    return REQUESTS / report.seconds;
  };
  const [bareUrl, minimalUrl, oursUrl] = [await listen(bare), await listen(minimal), await listen(ingress)];
  // Rounds interleave the servers, so a burst of load from elsewhere on the machine hits them all
  // alike; each ratio is the median of the rounds' own ratios, each rate the median of the rounds'.
  const rounds: { bare: number; minimal: number; ours: number; generator: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rounds.push({
      bare: await cannon(bareUrl, 'bare'),
      minimal: await cannon(minimalUrl, 'minimal'),
      ours: await cannon(oursUrl, 'ours'),
      generator: await generator(bareUrl),
    });
  }
  const rate = (key: keyof (typeof rounds)[0]) => median(rounds.map((r) => r[key]));
  const pairedRatio = (key: keyof (typeof rounds)[0], against: keyof (typeof rounds)[0]) => median(rounds.map((r) => r[key] / r[against]));
  const vsMinimal = pairedRatio('ours', 'minimal');
  const vsBare = pairedRatio('ours', 'bare');
  const generatorVsCannon = pairedRatio('generator', 'bare');
  const [oursCpu, minimalCpu] = [median(cpuPerRequest.ours), median(cpuPerRequest.minimal)];

  await Promise.all([bare.close(), minimal.close(), ingress.close(), plainQueue.close()]);
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();

  const perSecond = (n: number) => `${Math.round(n)} req/s`;
  return {
    title: `ingress throughput (autocannon, ${REQUESTS} signed final transcripts, ${CONNECTIONS} connections, medians of ${ROUNDS} interleaved rounds)`,
    rows: [
      {
        what: 'vs verify + one queue.add',
        figure: perSecond(rate('ours')),
        reference: perSecond(rate('minimal')),
        ratio: ratio(vsMinimal),
        target: '≥ 1.0 ×',
        met: vsMinimal >= 1,
      },
      {
        what: 'vs bare Fastify route',
        figure: perSecond(rate('ours')),
        reference: perSecond(rate('bare')),
        ratio: ratio(vsBare),
        target: '≥ 0.5 ×',
        met: vsBare >= 0.5,
      },
      {
        what: 'CPU per request',
        figure: `${oursCpu.toFixed(0)} µs`,
        reference: `${minimalCpu.toFixed(0)} µs (verify + queue.add)`,
        ratio: ratio(oursCpu / minimalCpu),
      },
      {
        what: 'bench generator, bare route',
        figure: perSecond(rate('generator')),
        reference: `${perSecond(rate('bare'))} (autocannon)`,
        ratio: ratio(generatorVsCannon),
        target: '≥ 0.9 ×',
        met: generatorVsCannon >= 0.9,
      },
    ],
    figures: { requests: REQUESTS, connections: CONNECTIONS, rounds, cpuMicrosPerRequest: cpuPerRequest, vsMinimal, vsBare, generatorVsCannon },
  };
};
