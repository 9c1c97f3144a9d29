/**
 * Bench section: what the queue round trip adds to a tool call. Reference: the tool runner the
 * worker uses (record, run, record), called in process. Ours: the same tool call POSTed to the
 * ingress, through `vapi-tools` to a worker process of its own (`WORKER_QUEUES=tools`, as deployed)
 * and back. One call at a time, the two sides by turns, same database. Each round trip is split by
 * the timestamps BullMQ keeps on the job (added, picked up, finished) and the worker's log line (how
 * long it handled the job), so the added time has a place.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { createRedis, deleteKeysWithPrefix } from '#shared/redis';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { createToolRunner } from '../../services/worker/lib/tool-runner.ts';
import { TOOLS } from '../../services/worker/tools/registry.ts';
import { seedClinic } from '../seed/seed-clinic.ts';
import { BENCH_DATABASE_URL, benchConfig, benchEnvironment, ms, signedHeaders, silentLogger, summarise } from './bench-environment.ts';
import type { BenchRun } from './section.ts';

const CALLS = Number(process.env.BENCH_TOOL_CALLS ?? 300);
/** Calls run first and not counted, on both sides: connections, prepared statements and JIT warm up. */
const WARMUP = 20;
const MAIN = fileURLToPath(new URL('../../services/main.ts', import.meta.url));

/** Epoch ms with sub-millisecond precision, comparable with the worker's `Date.now()`. */
const now = () => performance.timeOrigin + performance.now();

/** One call's start (epoch ms) and latency (ms). */
interface Run {
  startedAt: number;
  ms: number;
}

/**
 * Runs the reference's call and ours by turns, one at a time, warm-up first, each side first every
 * other turn: on a machine shared with other work, both sides then meet the same load and the same
 * caches. Returns each counted call of each side.
 */
async function byTurns(sides: { reference: (i: number) => Promise<void>; ours: (i: number) => Promise<void> }) {
  const runs = { reference: [] as Run[], ours: [] as Run[] };
  for (let i = -WARMUP; i < CALLS; i++) {
    for (const side of i % 2 === 0 ? (['reference', 'ours'] as const) : (['ours', 'reference'] as const)) {
      const startedAt = now();
      await sides[side](i);
      if (i >= 0) runs[side].push({ startedAt, ms: now() - startedAt });
    }
  }
  return runs;
}

/** The tools worker's process and how long it handled each tool call, by id, from its job log lines. */
interface ToolsWorker {
  child: ChildProcess;
  handledMs: Map<string, number>;
}

/** The worker as production runs the tools lane: a process of its own consuming only `vapi-tools`, logging at info. */
function startToolsWorker(env: Record<string, string>): Promise<ToolsWorker> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'worker'], {
      env: { ...process.env, ...env, WORKER_QUEUES: 'tools', LOG_LEVEL: 'info', WORKER_PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const worker = { child, handledMs: new Map<string, number>() };
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines.filter((text) => text.startsWith('{'))) {
        const entry = JSON.parse(line) as { msg: string; toolCallId?: string; ms?: number };
        if (entry.msg.startsWith('worker ready on http')) resolve(worker);
        if (entry.msg === 'job' && entry.toolCallId && entry.ms !== undefined) worker.handledMs.set(entry.toolCallId, entry.ms);
      }
    });
    child.once('exit', (code) => reject(new Error(`tools worker exited with ${code}`)));
  });
}

export const benchTools: BenchRun = async () => {
  const env = benchEnvironment();
  const config = benchConfig(env);
  const secret = config.vapi.secrets[0]!;
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  await migrateDatabase(BENCH_DATABASE_URL);
  const handle = createDatabase(BENCH_DATABASE_URL, { max: 4 });
  await seedClinic(handle.db, cipher);
  const date = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);

  // Reference: the worker's own tool runner, in this process.
  const runTool = createToolRunner({ db: handle.db, cipher, tools: TOOLS, onCommit: () => {}, logger: silentLogger });
  const sessionId = `bench-tools-${randomUUID()}`;
  const context = { sessionId, origin: { identity: {}, source: 'vapi' } };
  // Ours: signed tool-calls over HTTP to the ingress, through the queue to the tools worker and back.
  const worker = await startToolsWorker(env);
  const ingress = await buildIngressApp({ config, logger: silentLogger });
  const url = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  const call = { id: `bench-tools-${randomUUID()}`, orgId: 'bench' };

  const { reference: inProcess, ours: roundTrip } = await byTurns({
    reference: async (i) => {
      await runTool(
        { sessionId, toolCallId: `ref-${i}`, name: 'check_availability', deadline: Date.now() + 15_000, requestId: 'bench' },
        { arguments: { date }, context },
      );
    },
    ours: async (i) => {
      const toolCall = { id: `rt-${i}`, type: 'function', function: { name: 'check_availability', arguments: { date } } };
      const body = JSON.stringify({ message: { type: 'tool-calls', timestamp: Date.now(), call, toolCallList: [toolCall] } });
      const response = await fetch(url, { method: 'POST', headers: signedHeaders(secret, body), body });
      const answer = (await response.json()) as { results?: { result?: string }[] };
      if (!answer.results?.[0]?.result) throw new Error(`tool round trip gave no result: ${JSON.stringify(answer)}`);
    },
  });

  // Where the round trip's time went: BullMQ's timestamps on each job (whole ms) and the worker's own log line.
  const jobs = new Map((await ingress.queues.tools.getJobs(['completed'])).map((job) => [job.data.toolCallId, job]));
  const parts = { queued: [] as number[], pickedUp: [] as number[], bullmq: [] as number[], handled: [] as number[], answered: [] as number[] };
  roundTrip.forEach((run, i) => {
    const job = jobs.get(`rt-${i}`);
    const handled = worker.handledMs.get(`rt-${i}`);
    if (!job?.processedOn || !job.finishedOn || handled === undefined) return;
    parts.queued.push(job.timestamp - run.startedAt);
    parts.pickedUp.push(job.processedOn - job.timestamp);
    parts.bullmq.push(job.finishedOn - job.processedOn - handled);
    parts.handled.push(handled);
    parts.answered.push(run.startedAt + run.ms - job.finishedOn);
  });
  const path = Object.fromEntries(Object.entries(parts).map(([part, values]) => [part, summarise(values)])) as Record<
    keyof typeof parts,
    ReturnType<typeof summarise>
  >;

  await ingress.close();
  worker.child.removeAllListeners('exit');
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  await exited;
  await handle.close();
  const redis = createRedis(config.redis, 'worker', silentLogger);
  await deleteKeysWithPrefix(redis, config.queuePrefix);
  redis.disconnect();

  const reference = summarise(inProcess.map((run) => run.ms));
  const ours = summarise(roundTrip.map((run) => run.ms));
  const addedP99 = ours.p99 - reference.p99;
  const median = (part: keyof typeof parts) => path[part].p50.toFixed(1);
  return {
    title: `tool call round trip (check_availability, ${CALLS} calls one at a time, the tools lane in a process of its own)`,
    rows: [
      { what: 'p50', figure: ms(ours.p50), reference: `${ms(reference.p50)} in process`, ratio: `+${ms(ours.p50 - reference.p50)}` },
      {
        what: 'p99',
        figure: ms(ours.p99),
        reference: `${ms(reference.p99)} in process`,
        ratio: `+${ms(addedP99)}`,
        target: 'added ≤ 10 ms at p99',
        met: addedP99 <= 10,
      },
      {
        what: 'path, medians (ms)',
        figure: (['queued', 'pickedUp', 'bullmq', 'handled', 'answered'] as const).map(median).join(' + '),
        reference: 'queued, picked up, BullMQ, handled, answered',
        ratio: '',
      },
    ],
    figures: { calls: CALLS, inProcess: reference, roundTrip: ours, addedP50Ms: ours.p50 - reference.p50, addedP99Ms: addedP99, path },
  };
};
