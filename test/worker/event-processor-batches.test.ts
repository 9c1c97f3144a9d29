import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { asc, count, eq, inArray, isNull } from 'drizzle-orm';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { sessionEvents, vapiEvents, vapiMessages, vapiSessions } from '#shared/db/schema';
import { JobCodec } from '#shared/queues/codec';
import { notificationsQueue } from '#shared/queues/notifications-queue';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { openForPatient, patientOfChannel } from '#shared/relay-messages';
import { createEventProcessor, type ProcessOutcome } from '../../services/worker/lib/event-processor.ts';
import { toJobError } from '../../services/worker/lib/job-error.ts';
import { createOutboxDispatcher } from '../../services/worker/lib/outbox-dispatcher.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, TEST_ENCRYPTION_KEY, testConfig, uniquePrefix } from '../helpers/config.ts';
import { jobFor, storeFor } from '../helpers/jobs.ts';
import { openQueue } from '../helpers/queues.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { refuseMessagesOf } from '../helpers/refusal.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, reset, close } = integrationResources();
const { db } = handle;
const config = testConfig();
const cipher = new FieldCipher(config.dataEncryptionKeys);

beforeEach(() => reset(config.queuePrefix));
afterAll(close);

const final = (callId: string, transcript: string, timestamp: number, patientId?: string) => ({
  message: {
    type: 'transcript',
    transcriptType: 'final',
    role: 'user',
    transcript,
    timestamp,
    call: { id: callId, orgId: 'org', ...(patientId ? { metadata: { patientId } } : {}) },
  },
});
const status = (callId: string, value: string, timestamp: number) => ({
  message: { type: 'status-update', status: value, timestamp, call: { id: callId, orgId: 'org' } },
});

const relayOf = async (sessionId: string) =>
  (await db.select().from(sessionEvents).where(eq(sessionEvents.sessionId, sessionId)).orderBy(asc(sessionEvents.seq))).map((row) => ({
    seq: row.seq,
    type: row.type,
    data: cipher.decryptJson<Record<string, unknown>>(row.data),
  }));
const transcriptsOf = async (sessionId: string) =>
  (await db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, sessionId)).orderBy(asc(vapiMessages.timestamp))).map((row) =>
    cipher.decrypt(row.transcript),
  );
const sessionOf = async (id: string) => (await db.select().from(vapiSessions).where(eq(vapiSessions.id, id)))[0];

type Settled = { outcome: ProcessOutcome } | { error: unknown };

/** Holds a session's row lock in a transaction of the test's own, until `release`: a batch locking it waits there. */
async function holdSession(sessionId: string) {
  let release!: () => void;
  let locked!: () => void;
  const held = new Promise<void>((done) => (locked = done));
  const holding = handle.sql.begin(async (tx) => {
    // Held idle on purpose, for as long as the test needs (a child process can take seconds to start):
    // the database client's idle-transaction timeout is for workers, not for this gate.
    await tx`set local idle_in_transaction_session_timeout = 0`;
    await tx`select id from vapi_sessions where id = ${sessionId} for update`;
    locked();
    await new Promise<void>((done) => (release = done));
  });
  await held;
  return async () => {
    release();
    await holding;
  };
}

const someoneWaitsForALock = async () =>
  (await handle.sql`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`).length > 0;
/** True once no other client of the test database is inside a statement or a transaction. */
const othersIdle = async () =>
  (
    await handle.sql`select 1 from pg_stat_activity where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid() and state <> 'idle'`
  ).length === 0;

/** A session a test holds the lock of, so that the batch storing its next event waits mid-transaction. */
async function gateSession() {
  const gate = `gate-${randomUUID()}`;
  await createEventProcessor({ db, cipher, onCommit: () => {} })(storeFor(status(gate, 'ringing', 1795000000000), cipher));
  return { release: await holdSession(gate), next: storeFor(status(gate, 'in-progress', 1795000001000), cipher) };
}

/**
 * Stores `bodies` as one batch: a processor with one transaction slot first stores an event of a
 * session whose row lock the test holds, so that everything submitted meanwhile gathers behind it.
 */
async function asOneBatch(bodies: unknown[]) {
  const sizes: number[] = [];
  const splits: number[] = [];
  const processEvent = createEventProcessor({
    db,
    cipher,
    onCommit: () => {},
    batch: { maxEvents: 64, slots: 1 },
    onBatch: (size) => sizes.push(size),
    onSplit: (_error, size) => splits.push(size),
  });
  const gate = await gateSession();
  const gated = processEvent(gate.next);
  await waitFor(someoneWaitsForALock);
  const results = bodies.map((body) =>
    processEvent(storeFor(body, cipher)).then(
      (outcome): Settled => ({ outcome }),
      (error: unknown): Settled => ({ error }),
    ),
  );
  await gate.release();
  await gated;
  const settled = await Promise.all(results);
  return { settled, batches: sizes.slice(1), splits };
}

describe('a batch of events', () => {
  it('stores events of several calls in one transaction: each call in arrival order, a duplicate once, an end summarised from what the batch stored', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const c = realisticCall();
    const recorded = final(a, 'First, stored before the batch.', 1795000000000);
    await createEventProcessor({ db, cipher, onCommit: () => {} })(storeFor(recorded, cipher));
    const cFinal = c.events.find((body) => body.message.transcriptType === 'final')!;

    const { settled, batches, splits } = await asOneBatch([
      final(a, 'Third, sent first.', 1795000003000),
      final(a, 'Second, sent after.', 1795000002000),
      recorded,
      status(b, 'in-progress', 1795000000500),
      final(b, 'Only line of b.', 1795000001500),
      cFinal,
      c.report,
    ]);
    expect(batches).toEqual([7]);
    expect(splits).toEqual([]);
    expect(settled).toEqual(['processed', 'processed', 'duplicate', 'processed', 'processed', 'processed', 'processed'].map((outcome) => ({ outcome })));

    // Numbered in the order the events reached the batch; read back in Vapi's time order.
    expect((await relayOf(a)).map((event) => [event.seq, event.data.transcript])).toEqual([
      [1, 'First, stored before the batch.'],
      [2, 'Third, sent first.'],
      [3, 'Second, sent after.'],
    ]);
    expect(await transcriptsOf(a)).toEqual(['First, stored before the batch.', 'Second, sent after.', 'Third, sent first.']);
    expect((await sessionOf(a))!.lastSeq).toBe(3);
    expect((await relayOf(b)).map((event) => [event.seq, event.type])).toEqual([
      [1, 'session_status'],
      [2, 'transcript'],
    ]);

    // The report came with a transcript already stored by this batch: nothing is backfilled.
    expect(await transcriptsOf(c.callId)).toEqual([cFinal.message.transcript]);
    expect(await sessionOf(c.callId)).toMatchObject({ status: 'completed', metadata: { source: 'vapi' }, keyInsights: { turns: { user: 2, assistant: 2 } } });
    const cRelay = await relayOf(c.callId);
    expect(cRelay.map((event) => event.seq)).toEqual(cRelay.map((_, i) => i + 1));
    expect(cRelay.at(-1)!.type).toBe('session_end');
  });

  it('fails the one event Postgres refuses alone, with its SQLSTATE and no value, and stores its neighbours as if it had not been there', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const c = randomUUID();
    const bad = final(b, 'The words of a refused event.', 1795000001000);
    const badId = jobFor(bad, cipher).eventId;
    const lift = await refuseMessagesOf(handle, badId);
    try {
      const { settled, batches, splits } = await asOneBatch([
        final(a, 'One.', 1795000000000),
        bad,
        final(a, 'Two.', 1795000002000),
        status(c, 'ringing', 1795000000000),
      ]);
      expect(batches).toEqual([4, 1, 1, 1, 1]);
      expect(splits).toEqual([4]);
      expect([settled[0], settled[2], settled[3]]).toEqual([{ outcome: 'processed' }, { outcome: 'processed' }, { outcome: 'processed' }]);
      const failure = toJobError((settled[1] as { error: unknown }).error);
      expect(failure).toBeInstanceOf(UnrecoverableError);
      expect(failure.message).toBe('Database error 23514 on vapi_messages test_refuses_one_event: the event itself cannot be stored');

      // Nothing of the refused event was kept (not even its event log row), and its neighbours' seq has no hole.
      expect(await db.select().from(vapiEvents).where(eq(vapiEvents.id, badId))).toEqual([]);
      expect(await sessionOf(b)).toBeUndefined();
      expect((await relayOf(a)).map((event) => [event.seq, event.data.transcript])).toEqual([
        [1, 'One.'],
        [2, 'Two.'],
      ]);
      expect((await relayOf(c)).map((event) => event.seq)).toEqual([1]);
      expect(
        await db
          .select()
          .from(vapiEvents)
          .where(inArray(vapiEvents.sessionId, [a, c])),
      ).toHaveLength(3);
    } finally {
      await lift();
    }
  });
});

describe('a worker killed mid-batch', () => {
  const STORE = resolve(import.meta.dirname, '../helpers/event-store-process.ts');
  const TSX = import.meta.resolve('tsx');

  /** The worker's event store in a child process, fed jobs on stdin; what it says on stdout, as it comes. */
  function startStore() {
    const child = spawn(process.execPath, ['--import', TSX, STORE], {
      env: { ...process.env, EVENT_STORE_KEY: TEST_ENCRYPTION_KEY },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const said: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => said.push(...chunk.split('\n').filter(Boolean)));
    const exited = new Promise((done) => child.once('exit', done));
    return { child, said, kill: async () => (child.kill('SIGKILL'), await exited) };
  }

  it.each(['before', 'after'] as const)(
    'stores and relays every event exactly once after a restart, killed %s its first commit',
    async (moment) => {
      const calls = Array.from({ length: 5 }, (_, k) => ({ id: randomUUID(), patientId: `pat-${k}` }));
      const lines = calls.map((call) =>
        Array.from({ length: 6 }, (_, i) => storeFor(final(call.id, `Line ${i}.`, 1795000000000 + i * 1000, call.patientId), cipher)),
      );
      const gate = await gateSession();
      const jobs = [gate.next, ...lines.flat()];
      const gatedStored = async () => (await db.select().from(vapiEvents).where(eq(vapiEvents.id, gate.next.meta.eventId))).length === 1;

      const store = startStore();
      await waitFor(() => store.said.includes('ready'), 30_000);
      for (const job of jobs) store.child.stdin.write(`${JSON.stringify(job)}\n`);
      // Its first batch has recorded the gate's event and waits for the gate's lock, mid-transaction.
      await waitFor(someoneWaitsForALock);
      if (moment === 'before') {
        await store.kill();
        await gate.release();
      } else {
        await gate.release();
        await waitFor(gatedStored);
        await store.kill();
      }
      await waitFor(othersIdle);
      // Killed before, the waiting batch left nothing (its event log row went with its transaction).
      expect(await gatedStored()).toBe(moment === 'after');
      const left = (await db.select({ n: count() }).from(vapiEvents))[0]!.n;

      // The jobs come back (BullMQ hands a dead worker's jobs to another once their locks expire): a new worker stores them.
      const prefix = uniquePrefix();
      const subscriber = openTestRedis();
      const received: RelayEvent[] = [];
      subscriber.on('pmessage', (_pattern, channel: string, text: string) => received.push(openForPatient(cipher, patientOfChannel(prefix, channel)!, text)));
      await subscriber.psubscribe(patientChannel(prefix, '*'));
      const dispatcher = () =>
        createOutboxDispatcher({
          db,
          redis,
          cipher,
          codec: new JobCodec(cipher),
          notifications: openQueue(notificationsQueue, redis, prefix),
          endpoints: [],
          prefix,
          logger: silentLogger(),
          relaySettleMs: 0,
        });
      const restarted = dispatcher();
      const processEvent = createEventProcessor({ db, cipher, onCommit: (committed) => restarted.handOff(committed) });
      const outcomes = await Promise.all(jobs.map((job) => processEvent(job)));
      await restarted.stop();
      // What the killed worker committed but never published goes out with the sweep.
      await dispatcher().dispatchOnce();

      expect(outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(left - 1);
      expect(await db.select({ n: count() }).from(vapiEvents)).toEqual([{ n: jobs.length + 1 }]);
      for (const call of calls) {
        expect(await transcriptsOf(call.id)).toEqual(Array.from({ length: 6 }, (_, i) => `Line ${i}.`));
        expect((await relayOf(call.id)).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await sessionOf(call.id))!.lastSeq).toBe(6);
      }
      expect(await db.select().from(sessionEvents).where(isNull(sessionEvents.dispatchedAt))).toEqual([]);
      await waitFor(() => received.length >= 30);
      expect(received.map((event) => `${event.sessionId}:${event.seq}`).sort()).toEqual(
        calls.flatMap((call) => [1, 2, 3, 4, 5, 6].map((seq) => `${call.id}:${seq}`)).sort(),
      );
      subscriber.disconnect();
      await deleteKeys(redis, prefix);
    },
    60_000,
  );
});
