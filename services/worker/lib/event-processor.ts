import { UnrecoverableError } from 'bullmq';
import { UnknownKeyError, type FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import type { SessionRow } from '#shared/db/schema';
import type { EventJob } from '#shared/queues';
import type { RelayEvent } from '#shared/relay';
import { advanceStatus, toSessionStatus, type SessionStatus } from '#shared/session-status';
import { readEnvelope, type IncomingEvent } from '#shared/vapi/envelope';
import { changeFor, type Completion, type EventChange, type PendingRelayEvent } from './event-changes';
import {
  appendToOutbox,
  countStoredTurns,
  insertMessages,
  lockOrCreateSession,
  recordEvent,
  updateSession,
  type Transaction,
} from './session-repository';
import { generateSessionSummary } from './session-summary';

/**
 * Delivers relay events after commit. It must not throw: the events are committed, and a lost
 * publish costs latency only (relays refill gaps from the outbox).
 */
export type RelayPublish = (patientId: string, events: RelayEvent[]) => Promise<void>;

export type ProcessOutcome = 'processed' | 'duplicate' | 'live-only';

interface Deps {
  db: Database;
  cipher: FieldCipher;
  publish: RelayPublish;
}

const toRelayEvent = (sessionId: string, event: PendingRelayEvent & { seq?: number }): RelayEvent => ({
  type: event.type,
  sessionId,
  ...(event.seq !== undefined ? { seq: event.seq } : {}),
  at: event.at.toISOString(),
  data: event.data,
});

/** Marks a session whose transcript was taken from the end-of-call report's artifact. */
const BACKFILLED = 'end-of-call-report';

const earliest = (a: Date | null, b: Date | null | undefined) => (a && b ? (a < b ? a : b) : (a ?? b ?? null));
const latest = (a: Date | null, b: Date | null | undefined) => (a && b ? (a > b ? a : b) : (a ?? b ?? null));

/**
 * Reads a job back into the event it carries. A job under a key this worker lacks is retried (the
 * key may be on its way in a rotation); one that cannot be read at all never will be.
 */
function openJob(job: EventJob, cipher: FieldCipher): IncomingEvent {
  let event: IncomingEvent | null = null;
  try {
    event = readEnvelope(JSON.parse(cipher.decrypt(job.body)));
  } catch (error) {
    if (error instanceof UnknownKeyError) throw error;
    throw new UnrecoverableError(`Event ${job.eventId} cannot be read: ${(error as Error).name}`);
  }
  if (!event) throw new UnrecoverableError(`Event ${job.eventId} is not an event`);
  return event;
}

/**
 * Stores one event: in a single transaction it records the event under its id (a redelivery stops
 * there), creates or locks the session, applies what the event changes, and appends relay events
 * to the outbox with the next `seq`; after commit it publishes them. Status only moves forward, and
 * times are kept as the earliest start and latest end reported, so order of arrival does not matter.
 */
export function createEventProcessor({ db, cipher, publish }: Deps) {
  async function complete(tx: Transaction, session: SessionRow, values: Partial<SessionRow>, completion: Completion) {
    if (completion.backfill.length > 0 && Object.values(await countStoredTurns(tx, session.id)).every((n) => n === 0)) {
      await insertMessages(tx, cipher, session.id, `backfill.${session.id}`, completion.backfill);
      values.metadata = { ...session.metadata, transcriptFrom: BACKFILLED };
    }
    const summary = generateSessionSummary({
      startedAt: values.startedAt ?? session.startedAt,
      endedAt: values.endedAt ?? session.endedAt,
      reportedDurationSeconds: completion.reportedDurationSeconds,
      turns: completion.conversation?.turns ?? (await countStoredTurns(tx, session.id)),
      toolsUsed: completion.conversation?.toolsUsed ?? [],
      endedReason: values.endedReason ?? session.endedReason,
      vapiSummary: completion.vapiSummary,
    });
    Object.assign(values, {
      summary: cipher.encrypt(summary.text),
      keyInsights: {
        durationSeconds: summary.durationSeconds,
        turns: summary.turns,
        toolsUsed: summary.toolsUsed,
        endedReason: summary.endedReason,
        ...(completion.successEvaluation !== null ? { successEvaluation: completion.successEvaluation } : {}),
        ...(completion.cost !== null ? { cost: completion.cost } : {}),
      },
      ...(completion.analysis ? { analysis: cipher.encryptJson(completion.analysis) } : {}),
      ...(completion.recordingUrl ? { recordingUrl: cipher.encrypt(completion.recordingUrl) } : {}),
      ...(completion.cost !== null ? { cost: completion.cost.toFixed(4) } : {}),
    });
    return {
      type: 'session_end' as const,
      data: { sessionId: session.id, status: 'ended', summary: summary.text, durationSeconds: summary.durationSeconds, endedReason: summary.endedReason },
    };
  }

  async function apply(tx: Transaction, session: SessionRow, change: EventChange, eventId: string, at: Date) {
    const current = toSessionStatus(session.status) ?? 'queued';
    const status: SessionStatus = change.status ? advanceStatus(current, change.status) : current;
    const values: Partial<SessionRow> = {
      status,
      startedAt: earliest(session.startedAt, change.startedAt),
      endedAt: latest(session.endedAt, change.endedAt) ?? (status === 'ended' || status === 'completed' ? at : null),
      endedReason: session.endedReason ?? change.endedReason ?? null,
      lastEventAt: latest(session.lastEventAt, at),
    };
    // Once Vapi's own record of the conversation is stored, a late live transcript would repeat it.
    if (session.metadata.transcriptFrom !== BACKFILLED) await insertMessages(tx, cipher, session.id, eventId, change.messages);

    const relay: PendingRelayEvent[] = [];
    if (status !== current) relay.push({ type: 'session_status', at, data: { status, ...(values.endedReason ? { endedReason: values.endedReason } : {}) } });
    relay.push(...change.relay);
    // A repeated end report (a second `call-end`, say) must not summarise or announce the end twice.
    if (change.completion && current !== 'completed') relay.push({ at, ...(await complete(tx, session, values, change.completion)) });

    const numbered = await appendToOutbox(tx, cipher, session, relay);
    values.lastSeq = session.lastSeq + numbered.length;
    await updateSession(tx, session.id, values);
    return numbered;
  }

  return async function processEvent(job: EventJob): Promise<ProcessOutcome> {
    const event = openJob(job, cipher);
    const receivedAt = new Date(job.receivedAt);
    const change = changeFor(event, receivedAt);
    const at = event.timestamp ?? receivedAt;

    const result = await db.transaction(async (tx) => {
      const session = event.callId ? await lockOrCreateSession(tx, cipher, event.callId, event) : null;
      // Partial transcripts are relayed, not stored: nothing to record, nothing to dedup.
      if (session && change.live.length > 0) return { session, outcome: 'live-only' as const, events: change.live };

      const fresh = await recordEvent(tx, {
        id: job.eventId,
        sessionId: event.callId,
        type: event.type,
        occurredAt: event.timestamp,
        receivedAt,
        payload: job.body,
      });
      if (!fresh) return { session, outcome: 'duplicate' as const, events: [] };
      const events = session ? await apply(tx, session, change, job.eventId, at) : [];
      return { session, outcome: 'processed' as const, events };
    });

    const patientId = result.session?.patientId;
    if (patientId && result.events.length > 0) {
      await publish(patientId, result.events.map((event) => toRelayEvent(result.session!.id, event)));
    }
    return result.outcome;
  };
}
