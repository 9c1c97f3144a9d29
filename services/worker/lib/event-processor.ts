import { UnrecoverableError } from 'bullmq';
import type { FieldCipher } from '#shared/crypto';
import type { Database, Transaction } from '#shared/db/client';
import type { EventMeta } from '#shared/queues/events-queue';
import { activeContext, startSharedSpans } from '#shared/tracing';
import { readEnvelope, sessionIdOf, type IncomingEvent } from '#shared/vapi/envelope';
import { laneOf } from '#shared/vapi/message-types';
import type { Context } from '@opentelemetry/api';
import { callerIdentity } from '#shared/vapi/read';
import { sessionOriginOf } from '#shared/vapi/session-origin';
import { changeFor } from './event-changes.ts';
import { recordEvents } from './event-log-repository.ts';
import { createGroupCommit } from './group-commit.ts';
import { countStoredTurns, insertMessages } from './message-repository.ts';
import type { Committed } from './outbox-dispatcher.ts';
import { appendNotifications, appendRelayEvents } from './outbox-repository.ts';
import { createSessions, knownCallers, lockSessions, updateSessions } from './session-repository.ts';
import { applyEvents, bindingFor, NO_TURNS, stateOf, type KnownCaller, type SessionEvent } from './session-state.ts';
import { toolsUsedIn } from './tool-call-repository.ts';

/** What became of an event: stored now, stored before (a redelivery), or not for storing. */
export type ProcessOutcome = 'processed' | 'duplicate' | 'live-only';

/** One event job, opened: its clear fields and the raw webhook body. */
export interface EventToStore {
  meta: EventMeta;
  body: string;
}

/** Events per transaction, and transactions at once (each holds a connection). */
export interface BatchLimits {
  maxEvents: number;
  slots: number;
}

/**
 * As many events as a worker holds by default, and two slots: under load one commits while the
 * other runs, where a single slot's commits bound throughput (docs/performance.md).
 */
const DEFAULT_BATCH_LIMITS: BatchLimits = { maxEvents: 64, slots: 2 };

interface Deps {
  db: Database;
  cipher: FieldCipher;
  /** Called after each commit that wrote outbox rows, once per batch: the outbox takes them from there. */
  onCommit: (committed: Committed) => void;
  batch?: BatchLimits;
  /** Batch sizes and failed batches, for metrics. */
  onBatch?: (size: number) => void;
  onSplit?: (error: unknown, size: number) => void;
}

/** An event read from its job, waiting for its batch. */
interface ReadEvent extends SessionEvent {
  job: EventToStore;
  event: IncomingEvent;
  sessionId: string | null;
  receivedAt: Date;
  /** The job's trace context (its BullMQ span when tracing is on). */
  context: Context;
}

/** A session another transaction created between this batch's lock and its insert: the batch starts again and finds it. */
class SessionCreatedMeanwhile extends Error {
  override name = 'SessionCreatedMeanwhile';
}

/** Reads a job's body back into the event it carries; one that is not an event never will be. */
function readEvent(job: EventToStore): IncomingEvent {
  let event: IncomingEvent | null = null;
  try {
    event = readEnvelope(JSON.parse(job.body));
  } catch (error) {
    throw new UnrecoverableError(`Event ${job.meta.eventId} cannot be read: ${(error as Error).name}`);
  }
  if (!event) throw new UnrecoverableError(`Event ${job.meta.eventId} is not an event`);
  return event;
}

function groupBySession(events: ReadEvent[]): Map<string, ReadEvent[]> {
  const bySession = new Map<string, ReadEvent[]>();
  for (const event of events) if (event.sessionId) bySession.set(event.sessionId, [...(bySession.get(event.sessionId) ?? []), event]);
  return bySession;
}

/**
 * Stores events in group commit (docs/storage.md, "Group commit"): the jobs a worker holds at once
 * are stored in one transaction that records them in the event log (a redelivery stops there),
 * locks their sessions in id order (creating those seen for the first time), applies each session's
 * events in the order they arrived (session-state.ts), and appends relay events (with the next
 * `seq`) and notification intents to the outbox, in one statement per table. A job's promise
 * settles once its batch is committed; a batch that fails is stored again event by event, so a bad
 * event fails alone.
 */
export function createEventProcessor({ db, cipher, onCommit, batch = DEFAULT_BATCH_LIMITS, onBatch, onSplit }: Deps) {
  async function storeBatch(tx: Transaction, events: ReadEvent[]) {
    const [recorded, locked] = await Promise.all([
      recordEvents(
        tx,
        // Each payload encrypted on its own: the job's seal is bound to the job's clear fields, which the row does not keep.
        events.map(({ eventId, event, sessionId, receivedAt, job }) => ({
          id: eventId,
          sessionId,
          type: event.type,
          occurredAt: event.timestamp,
          receivedAt,
          payload: cipher.encrypt(job.body),
        })),
      ),
      lockSessions(tx, [...new Set(events.flatMap((e) => (e.sessionId ? [e.sessionId] : [])))]),
    ]);
    // An event twice in one batch (a job redelivered while its first run waits) is stored once.
    const seen = new Set<string>();
    const fresh = events.map(({ eventId }) => {
      const first = recorded.has(eventId) && !seen.has(eventId);
      seen.add(eventId);
      return first;
    });
    const bySession = groupBySession(events.filter((_, index) => fresh[index]));

    const unbound = [...bySession].filter(([id]) => !locked.get(id)?.patientId && !locked.get(id)?.callerHash);
    const numbers = unbound.flatMap(([, own]) => own.flatMap((e) => (e.identity.callerNumber ? [e.identity.callerNumber] : [])));
    const callers = numbers.length > 0 ? await knownCallers(tx, cipher, numbers) : new Map<string, KnownCaller>();
    const missing = [...bySession].filter(([id]) => !locked.has(id));
    if (missing.length > 0) {
      const created = await createSessions(
        tx,
        missing.map(([id, [first]]) => ({ id, origin: sessionOriginOf(first!.event), binding: bindingFor(first!.identity, callers) })),
      );
      // Locking what another transaction created now would take it out of id order: start again, and find it.
      if (created.length < missing.length) throw new SessionCreatedMeanwhile('A session of the batch was created meanwhile');
      for (const row of created) locked.set(row.id, row);
    }

    // The end of a call is summarised from what the session holds: read once its lock is held.
    const due = [...bySession].filter(([, own]) => own.some((e) => e.change.completion)).map(([id]) => id);
    const [turns, tools] = due.length > 0 ? await Promise.all([countStoredTurns(tx, due), toolsUsedIn(tx, due)]) : [new Map(), new Map()];
    const applied = [...bySession].map(([id, own]) => {
      const row = locked.get(id)!;
      return { row, ...applyEvents(stateOf(row), own, { turns: turns.get(id) ?? NO_TURNS, toolsUsed: tools.get(id) ?? [] }, callers) };
    });

    const notifications = applied.flatMap(({ row, notifications }) => notifications.map((intent) => ({ sessionId: row.id, ...intent })));
    const [numbered] = await Promise.all([
      appendRelayEvents(
        tx,
        cipher,
        applied.map(({ row, relay }) => ({ session: row, events: relay })),
      ),
      insertMessages(
        tx,
        cipher,
        applied.flatMap(({ row, messages }) => messages.map((group) => ({ sessionId: row.id, ...group }))),
      ),
      appendNotifications(tx, cipher, notifications),
      updateSessions(
        tx,
        cipher,
        applied.map(({ state, completion }) => ({ state, completion })),
      ),
    ]);
    const patients = new Map(applied.map(({ state }) => [state.id, state.patientId]));
    return {
      outcomes: fresh.map((stored): ProcessOutcome => (stored ? 'processed' : 'duplicate')),
      committed: { relay: numbered.map((event) => ({ ...event, patientId: patients.get(event.sessionId) ?? null })), notifications: notifications.length },
    };
  }

  /** Stores a batch in one transaction, traced in each of its events' traces; what they raise carries that span. */
  async function store(events: ReadEvent[]): Promise<ProcessOutcome[]> {
    const spans = startSharedSpans(
      'worker.transaction',
      events.map((e) => ({ parent: e.context, attributes: { 'vapi_relay.session_id': e.sessionId ?? '', 'vapi_relay.event_id': e.eventId } })),
    );
    const traced = spans ? events.map((e, i) => (spans.carriers[i] ? { ...e, trace: spans.carriers[i] } : e)) : events;
    try {
      const outcomes = await (spans ? spans.run(() => storeInTransaction(traced)) : storeInTransaction(traced));
      spans?.end();
      return outcomes;
    } catch (error) {
      spans?.end(error);
      throw error;
    }
  }

  async function storeInTransaction(events: ReadEvent[]): Promise<ProcessOutcome[]> {
    for (;;) {
      try {
        const { outcomes, committed } = await db.transaction((tx) => storeBatch(tx, events));
        if (committed.relay.length > 0 || committed.notifications > 0) onCommit(committed);
        return outcomes;
      } catch (error) {
        // Each new start finds committed what the last one collided with, so the batch's sessions to create only shrink.
        if (!(error instanceof SessionCreatedMeanwhile)) throw error;
      }
    }
  }

  const group = createGroupCommit<ReadEvent, ProcessOutcome>({ store, maxBatch: batch.maxEvents, slots: batch.slots, onBatch, onSplit });

  return async function processEvent(job: EventToStore): Promise<ProcessOutcome> {
    const event = readEvent(job);
    // The ingress sends these down the live lane; one queued before that (an upgrade) is not stored either.
    if (laneOf(event) === 'live') return 'live-only';
    const receivedAt = new Date(job.meta.receivedAt);
    return group.submit({
      job,
      event,
      sessionId: sessionIdOf(event),
      receivedAt,
      eventId: job.meta.eventId,
      at: event.timestamp ?? receivedAt,
      change: changeFor(event, receivedAt, job.meta.source === 'reconcile'),
      identity: callerIdentity(event.message),
      context: activeContext(),
    });
  };
}
