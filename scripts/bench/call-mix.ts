/**
 * Bench section, the headline: C concurrent calls at speaking pace (call-script.ts), as production
 * runs them (roles.ts): partial and final transcripts to each patient's app over the relay's
 * WebSocket, and the tool call's round trip, for C = 25, 50, 100, 200, 400 until a level misses.
 * The players run in processes of their own. Reference in the same run, per level: the same calls
 * played against a bare route (HTTP only: what the machine and the players themselves cost).
 */
import { cpus } from 'node:os';
import Fastify from 'fastify';
import postgres from 'postgres';
import { createDatabase } from '#shared/db/client';
import { FieldCipher } from '#shared/crypto';
import { migrateDatabase } from '#shared/db/migrate';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { seedClinic } from '../seed/seed-clinic.ts';
import { BENCH_DATABASE_URL, benchConfig, benchEnvironment, deleteBenchKeys, ms, signedHeaders, summarise } from './bench-environment.ts';
import type { CallPlayReport } from './call-player.ts';
import { callScript, transcriptKey, type BenchCall, type StepMark } from './call-script.ts';
import { now } from './clock.ts';
import { playCalls } from './load.ts';
import { openApps, startTopology, topologyDescription } from './roles.ts';
import type { BenchRow, BenchRun } from './section.ts';

const LEVELS = (process.env.BENCH_CALL_MIX_LEVELS ?? '25,50,100,200,400').split(',').map(Number);
/** Player processes: enough that sending at 400 calls is not what is measured. */
const PLAYERS = 2;
/** Calls start within this window. */
const SPREAD_MS = 2_000;
/** The first call is due this long after every player is ready; a player takes about this long to start. */
const LEAD_MS = 200;
const PLAYER_START_MS = 2_000;
const TARGET_P99_MS = 100;

/** The next weekday from tomorrow on: the seeded clinic has slots then. */
function nextWeekday(): string {
  const day = new Date(Date.now() + 24 * 3600 * 1000);
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

/** Plays `calls` against `url` and returns the scripts' marks with the players' reports. */
async function play(url: string, calls: BenchCall[], secret: string) {
  // The messages' timestamps say when the steps are due; about when the players will start.
  const expectedStart = now() + PLAYER_START_MS;
  const built = calls.map((call, i) => callScript(call, expectedStart, Math.round((i * SPREAD_MS) / calls.length), (body) => signedHeaders(secret, body)));
  const reports = await playCalls({ url, calls: built.map(({ script }) => script) }, PLAYERS, LEAD_MS);
  return built.map(({ marks }, i) => ({ marks, report: reports[i]! }));
}

type Played = { marks: StepMark[]; report: CallPlayReport }[];

/** Answers other than 2xx, by status (0: no answer). */
function refusals(played: Played): Record<string, number> {
  const byStatus: Record<string, number> = {};
  for (const status of played.flatMap(({ report }) => report.statuses)) if (status < 200 || status >= 300) byStatus[status] = (byStatus[status] ?? 0) + 1;
  return byStatus;
}
const refusedIn = (played: Played) => Object.values(refusals(played)).reduce((a, b) => a + b, 0);
const httpLatencies = (played: Played) => summarise(played.flatMap(({ report }) => report.latencies));
const toolLatencies = (played: Played) => summarise(played.flatMap(({ marks, report }) => report.latencies.filter((_, i) => marks[i]?.kind === 'tool')));

/** Polls `progress` until it reaches `expected` or stops moving for `quietMs`. */
async function settle(progress: () => Promise<number> | number, expected: number, quietMs = 5_000) {
  for (let last = -1, still = now(); ; ) {
    const reached = await progress();
    if (reached >= expected) return;
    if (reached !== last) [last, still] = [reached, now()];
    else if (now() - still > quietMs) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const benchCallMix: BenchRun = async () => {
  const env = { ...benchEnvironment(), LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', WORKER_PORT: '0', RELAY_PORT: '0' };
  const config = benchConfig(env);
  const secret = config.vapi.secrets[0]!;
  await migrateDatabase(BENCH_DATABASE_URL);
  const handle = createDatabase(BENCH_DATABASE_URL, { max: 2 });
  await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
  await handle.close();
  const sql = postgres(BENCH_DATABASE_URL, { max: 1, onnotice: () => {} });
  const date = nextWeekday();

  const bare = Fastify();
  bare.post(WEBHOOK_PATH, async () => ({ received: true }));
  const bareUrl = `${await bare.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
  const topology = await startTopology(env);

  const levels: Record<string, unknown>[] = [];
  const rows: BenchRow[] = [];
  let largest = 0;
  for (const level of LEVELS) {
    const calls = Array.from({ length: level }, (_, k) => ({
      id: `bench-mix-${config.queuePrefix}-${level}-${k}`,
      patientId: `bench-mix-patient-${level}-${k}`,
      date,
    }));
    const reference = await play(
      bareUrl,
      calls.map((call) => ({ ...call, id: `${call.id}-reference` })),
      secret,
    );

    const arrivals = new Map<string, number>();
    const apps = await openApps(
      topology.relayUrl,
      calls.map((call) => call.patientId),
      config.relayJwtSecret,
      (event, at) => {
        if (event.type !== 'transcript') return;
        const key = transcriptKey(event.sessionId, event.data.final === true, String(event.data.transcript));
        if (!arrivals.has(key)) arrivals.set(key, at);
      },
    );
    const played = await play(topology.webhookUrl, calls, secret);
    const finals = played.flatMap(({ marks }) => marks.flatMap((mark) => (mark?.kind === 'final' ? [mark.key] : [])));
    await settle(() => finals.filter((key) => arrivals.has(key)).length, finals.length);
    const ids = calls.map((call) => call.id);
    const completed = async () => Number((await sql`select count(*) from vapi_sessions where id = any(${ids}) and status = 'completed'`)[0]!.count);
    await settle(completed, level);
    for (const app of apps) app.close();

    const toApp = (kind: 'partial' | 'final') => {
      const latencies = played.flatMap(({ marks, report }) =>
        marks.flatMap((mark, i) => (mark?.kind === kind && arrivals.has(mark.key) ? [arrivals.get(mark.key)! - report.sentAt[i]!] : [])),
      );
      return { ...summarise(latencies), expected: played.reduce((n, { marks }) => n + marks.filter((mark) => mark?.kind === kind).length, 0) };
    };
    const partial = toApp('partial');
    const final = toApp('final');
    const tool = toolLatencies(played);
    const toolAnswered = played.filter(({ marks, report }) =>
      marks.some((mark, i) => mark?.kind === 'tool' && /"result":/.test(report.answers[i] ?? '')),
    ).length;
    const refused = refusedIn(played);
    const callsCompleted = await completed();
    const referenceHttp = httpLatencies(reference);
    const met = {
      latency: [partial, final, tool].every(({ p99 }) => p99 <= TARGET_P99_MS),
      complete: refused === 0 && final.count === final.expected && toolAnswered === level && callsCompleted === level,
    };
    levels.push({
      calls: level,
      partial,
      final,
      tool,
      toolAnswered,
      refused,
      refusals: refusals(played),
      callsCompleted,
      reference: { http: referenceHttp, tool: toolLatencies(reference), refused: refusedIn(reference) },
    });

    const latencyRow = (what: string, measured: { p50: number; p99: number }) => ({
      what: `C=${level} ${what} p50 / p99`,
      figure: `${ms(measured.p50)} / ${ms(measured.p99)}`,
      reference: `${ms(referenceHttp.p50)} / ${ms(referenceHttp.p99)} bare HTTP`,
      ratio: `${(measured.p99 / referenceHttp.p99).toFixed(1)} × p99`,
      target: `p99 ≤ ${TARGET_P99_MS} ms`,
      met: measured.p99 <= TARGET_P99_MS,
    });
    rows.push(latencyRow('partial → app', partial), latencyRow('final → app', final), latencyRow('tool round trip', tool), {
      what: `C=${level} refused / delivered`,
      figure: `${refused} refused ${JSON.stringify(refusals(played))}; finals ${final.count}/${final.expected}; partials ${partial.count}/${partial.expected}; tools ${toolAnswered}/${level}; completed ${callsCompleted}/${level}`,
      reference: `${refusedIn(reference)} refused`,
      ratio: '',
      target: 'none refused, all delivered',
      met: met.complete,
    });
    if (!met.latency || !met.complete) break;
    largest = level;
  }

  await topology.stop();
  await bare.close();
  await sql.end();
  await deleteBenchKeys(config);

  const cores = cpus().length;
  rows.push({
    what: 'largest C within target',
    figure: `${largest} calls`,
    reference: `${cores} cores`,
    ratio: '',
    target: '≥ 100 (moonshot 200)',
    met: largest >= 100,
  });
  return {
    title: `call mix: C concurrent calls at speaking pace, ${cores} cores; ${topologyDescription()}, ${PLAYERS} player processes`,
    rows,
    figures: { cores, topology: topologyDescription(), players: PLAYERS, largestWithinTarget: largest, levels },
  };
};
