/**
 * Bench section: one page of the patient's history API. A call of 200 final utterances is stored
 * the way the worker stores it (the event processor: encrypted), and its second page of 50 messages
 * is read over and over through `GET /v1/sessions/:id/messages` (token check, ownership, keyset
 * page, decrypt, audit row, JSON), one request at a time from the load generator in a process of
 * its own. Reference: the same page read straight from Postgres with postgres.js and decrypted, in
 * this process, alone and followed by the audit row each HTTP read commits. The sides run in
 * alternating rounds, so both meet the same machine.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { recordAudit } from '#shared/audit';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { migrateDatabase } from '#shared/db/migrate';
import { buildRelayApp } from '../../services/relay/app.ts';
import { signRelayToken } from '#shared/relay-token';
import { JobCodec } from '#shared/queues/codec';
import { readEnvelope } from '#shared/vapi/envelope';
import { toEventJob } from '../../services/ingress/lib/event-job.ts';
import { createEventProcessor } from '../../services/worker/lib/event-processor.ts';
import { BENCH_DATABASE_URL, benchConfig, benchEnvironment, deleteBenchKeys, ms, ratio, silentLogger, summarise } from './bench-environment.ts';
import { generateLoad } from './load.ts';
import type { BenchRun } from './section.ts';

const READS = Number(process.env.BENCH_HISTORY_READS ?? 1_000);
const MESSAGES = 200;
const PAGE = 50;
/**
 * Rounds, the two sides by turns (reference, ours, ours, reference, …) so that both meet the same
 * machine; the first round of each side warms it up (connections, prepared statements, JIT) and is not counted.
 */
const ROUNDS = 8;
const isReference = (round: number) => round % 4 === 0 || round % 4 === 3;

/** Stores a call of `MESSAGES` utterances of `patientId` through the worker's event processor; resolves with its id. */
async function storeCall(config: ReturnType<typeof benchConfig>, db: ReturnType<typeof createDatabase>['db'], patientId: string): Promise<string> {
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  const process = createEventProcessor({ db, cipher, onCommit: () => undefined });
  const callId = `bench-history-${randomUUID()}`;
  const start = Date.parse('2026-11-20T15:00:00.000Z');
  const call = { id: callId, orgId: 'org-bench', type: 'webCall', metadata: { patientId } };
  const codec = new JobCodec(cipher);
  // Each event as the ingress would enqueue it and the events worker would open it.
  const store = async (body: unknown) => {
    const raw = JSON.stringify(body);
    const { sealed: _sealed, ...meta } = toEventJob(codec, readEnvelope(body)!, Buffer.from(raw), { requestId: 'bench', receivedAt: new Date() });
    await process({ meta, body: raw });
  };
  await store({ message: { type: 'status-update', status: 'in-progress', timestamp: start, call } });
  for (let i = 0; i < MESSAGES; i++) {
    const content = `Utterance ${i}: I would like to book a follow-up visit next Tuesday morning, if the clinic has a slot open then.`;
    await store({
      type: 'message',
      data: { sessionId: callId, role: i % 2 ? 'user' : 'assistant', content, timestamp: new Date(start + 1_000 * (i + 1)).toISOString() },
    });
  }
  return callId;
}

export const benchHistory: BenchRun = async () => {
  const env = benchEnvironment();
  const config = benchConfig(env);
  const cipher = new FieldCipher(config.dataEncryptionKeys);
  await migrateDatabase(BENCH_DATABASE_URL);
  const handle = createDatabase(BENCH_DATABASE_URL, { max: 2 });
  const patientId = `bench-patient-${randomUUID()}`;
  const sessionId = await storeCall(config, handle.db, patientId);

  const relay = await buildRelayApp({ config, logger: silentLogger });
  const base = await relay.listen({ host: '127.0.0.1', port: 0 });
  const token = signRelayToken({ patientId, expiresAt: Math.floor(Date.now() / 1000) + 3600 }, config.relayJwtSecret);
  const authorization = `Bearer ${token}`;
  const first = (await (await fetch(`${base}/v1/sessions/${sessionId}/messages?limit=${PAGE}`, { headers: { authorization } })).json()) as {
    nextCursor: string;
  };
  const url = `${base}/v1/sessions/${sessionId}/messages?limit=${PAGE}&cursor=${encodeURIComponent(first.nextCursor)}`;
  const check = (await (await fetch(url, { headers: { authorization } })).json()) as { messages: unknown[] };
  if (check.messages.length !== PAGE) throw new Error(`the page has ${check.messages.length} messages, not ${PAGE}`);

  // The reference reads the same page: after the 50th message, by the same index, decrypted.
  const [after] = await handle.sql`
    select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id from vapi_messages
    where session_id = ${sessionId} order by timestamp, id offset ${PAGE - 1} limit 1`;
  const direct = async () => {
    const rows = await handle.sql`
      select role, transcript, timestamp from vapi_messages
      where session_id = ${sessionId} and (timestamp, id) > (${after!.at as string}::timestamptz, ${after!.id as string}::bigint)
      order by timestamp, id limit ${PAGE + 1}`;
    return JSON.stringify(
      rows
        .slice(0, PAGE)
        .map((row) => ({ role: row.role, transcript: cipher.decrypt(row.transcript as string), timestamp: new Date(row.timestamp as string).toISOString() })),
    );
  };

  // What each read also writes: its audit row, committed before the answer (a second reference, to show where the time goes).
  const audited = async () => {
    await direct();
    await recordAudit(handle.db, {
      actor: 'patient',
      action: 'history.read',
      patientId,
      sessionId,
      what: [`messages of session ${sessionId} (${PAGE})`],
      source: 'bench',
    });
  };

  const perRound = Math.ceil(READS / (ROUNDS / 2 - 1));
  const reference: number[] = [];
  const referenceAudited: number[] = [];
  const ours: number[] = [];
  let failures = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const counted = round >= 2;
    if (isReference(round)) {
      for (let i = 0; i < perRound; i++) {
        for (const [read, latencies] of [
          [direct, reference],
          [audited, referenceAudited],
        ] as const) {
          const startedAt = performance.now();
          await read();
          if (counted) latencies.push(performance.now() - startedAt);
        }
      }
    } else {
      const report = await generateLoad({
        url,
        requests: Array.from({ length: perRound }, () => ({ method: 'GET', body: '', headers: { authorization } })),
        concurrency: 1,
      });
      failures += report.failures;
      if (counted) ours.push(...report.latencies);
    }
  }

  await relay.close();
  await handle.sql`delete from vapi_sessions where id = ${sessionId}`;
  await handle.sql`delete from vapi_events where session_id = ${sessionId}`;
  await handle.sql`delete from audit_events where patient_id = ${patientId}`;
  await handle.close();
  await deleteBenchKeys(config);
  if (failures > 0) throw new Error(`${failures} history reads were not answered 2xx`);

  const theirs = summarise(reference);
  const theirsAudited = summarise(referenceAudited);
  const mine = summarise(ours);
  return {
    title: `history API: a page of ${PAGE} messages of a ${MESSAGES}-message call (${mine.count} reads, one at a time, load generator in a process of its own)`,
    rows: [
      { what: 'p50', figure: ms(mine.p50), reference: `${ms(theirs.p50)} postgres.js + decrypt`, ratio: ratio(mine.p50 / theirs.p50) },
      { what: 'p99', figure: ms(mine.p99), reference: `${ms(theirs.p99)} postgres.js + decrypt`, ratio: ratio(mine.p99 / theirs.p99) },
      {
        what: 'p50, audit row included',
        figure: ms(mine.p50),
        reference: `${ms(theirsAudited.p50)} + audit insert`,
        ratio: ratio(mine.p50 / theirsAudited.p50),
      },
      {
        what: 'p99, audit row included',
        figure: ms(mine.p99),
        reference: `${ms(theirsAudited.p99)} + audit insert`,
        ratio: ratio(mine.p99 / theirsAudited.p99),
      },
    ],
    figures: {
      reads: mine.count,
      messages: MESSAGES,
      page: PAGE,
      http: mine,
      reference: theirs,
      referenceWithAudit: theirsAudited,
      ratioP50: mine.p50 / theirs.p50,
      ratioP99: mine.p99 / theirs.p99,
      ratioWithAuditP50: mine.p50 / theirsAudited.p50,
      ratioWithAuditP99: mine.p99 / theirsAudited.p99,
    },
  };
};
