/**
 * Bench section: what the queue round trip adds to a tool call. Reference: the tool runner the
 * worker uses (record, run, record, outbox), called in process. Ours: the same tool call POSTed to
 * the ingress, through `vapi-tools` to a worker and back. Both one call at a time, same database.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { createLogger } from '#shared/logger';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '../../services/ingress/routes/webhook.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { createToolRunner } from '../../services/worker/lib/tool-runner.ts';
import { TOOLS } from '../../services/worker/tools/registry.ts';
import { seedClinic } from '../seed/seed-clinic.ts';
import type { BenchRun } from './section.ts';

const CALLS = Number(process.env.BENCH_TOOL_CALLS ?? 300);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vapi_relay_bench';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const ms = (n: number) => `${n.toFixed(2)} ms`;

async function timed(count: number, task: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await task(i);
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

export const benchTools: BenchRun = async () => {
  const secret = randomBytes(16).toString('hex');
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'bench',
    LOG_LEVEL: 'silent',
    DATABASE_URL,
    QUEUE_PREFIX: `{bench-tools-${randomUUID().slice(0, 8)}}`,
    VAPI_WEBHOOK_SECRET: secret,
    RELAY_JWT_SECRET: randomBytes(16).toString('hex'),
    DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ADMIN_TOKEN: randomBytes(16).toString('hex'),
  });
  const logger = createLogger({ level: 'silent', service: 'bench', pretty: false });
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  await migrateDatabase(DATABASE_URL);
  const handle = createDatabase(DATABASE_URL, { max: 4 });
  await seedClinic(handle.db, cipher);
  const date = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);

  // Reference: the worker's own tool runner, in this process.
  const runTool = createToolRunner({ db: handle.db, cipher, tools: TOOLS, onCommit: () => {}, logger });
  const sessionId = `bench-tools-${randomUUID()}`;
  const context = { sessionId, kind: 'call' as const, claimedPatientId: null, callerNumber: null };
  const inProcess = await timed(CALLS, async (i) => {
    await runTool({ sessionId, toolCallId: `ref-${i}`, name: 'check_availability', deadline: Date.now() + 15_000, requestId: 'bench' }, { arguments: { date }, context });
  });

  // Ours: signed tool-calls over HTTP, through the queue to a worker and back.
  const worker = await buildWorkerApp({ config, logger });
  await worker.ready();
  const ingress = await buildIngressApp({ config, logger });
  const url = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  const call = { id: `bench-tools-${randomUUID()}`, orgId: 'bench' };
  const roundTrip = await timed(CALLS, async (i) => {
    const toolCall = { id: `rt-${i}`, type: 'function', function: { name: 'check_availability', arguments: { date } } };
    const body = JSON.stringify({ message: { type: 'tool-calls', timestamp: Date.now(), call, toolCallList: [toolCall] } });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-vapi-signature': createHmac('sha256', secret).update(body).digest('hex') },
      body,
    });
    const answer = (await response.json()) as { results?: { result?: string }[] };
    if (!answer.results?.[0]?.result) throw new Error(`tool round trip gave no result: ${JSON.stringify(answer)}`);
  });

  await ingress.close();
  await worker.close();
  await handle.close();
  const redis = createRedis(config.redis, 'worker', logger);
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();

  const addedP99 = roundTrip.p99 - inProcess.p99;
  return {
    title: `tool call round trip (check_availability, ${CALLS} calls one at a time)`,
    rows: [
      { what: 'p50', figure: ms(roundTrip.p50), reference: `${ms(inProcess.p50)} in process`, ratio: `+${ms(roundTrip.p50 - inProcess.p50)}` },
      { what: 'p99', figure: ms(roundTrip.p99), reference: `${ms(inProcess.p99)} in process`, ratio: `+${ms(addedP99)}`, target: 'added ≤ 10 ms at p99', met: addedP99 <= 10 },
    ],
    figures: { calls: CALLS, inProcess, roundTrip, addedP50Ms: roundTrip.p50 - inProcess.p50, addedP99Ms: addedP99 },
  };
};
