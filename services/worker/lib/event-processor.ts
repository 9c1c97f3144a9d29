import { UnrecoverableError } from 'bullmq';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import type { SessionRow } from '#shared/db/schema';
import type { EventMeta } from '#shared/queues/events-queue';
import { advanceStatus, toSessionStatus, type SessionStatus } from '#shared/session-status';
import { readEnvelope, sessionIdOf, type IncomingEvent } from '#shared/vapi/envelope';
import { isLiveOnly } from '#shared/vapi/live';
import { changeFor, type Completion, type EventChange, type PendingRelayEvent } from './event-changes.ts';
import {
  appendNotification,
  appendToOutbox,
  countStoredTurns,
  insertMessages,
  lockOrCreateSession,
  recordEvent,
  sessionOriginOf,
  updateSession,
  type Transaction,
} from './session-repository.ts';
import { generateSessionSummary } from './session-summary.ts';
import { toolsUsedIn } from './tool-call-repository.ts';

export type ProcessOutcome = 'processed' | 'duplicate' | 'live-only';

/** One event job, opened: its clear fields and the raw webhook body. */
export interface EventToStore {
  meta: EventMeta;
  body: string;
}

interface Deps {
  db: Database;
  cipher: FieldCipher;
  /** Called after each commit that wrote outbox rows: the dispatcher publishes them. */
  onOutbox: () => void;
}

/** Marks a session whose transcript was taken from the end-of-call report's artifact. */
const BACKFILLED = 'end-of-call-report';

const earliest = (a: Date | null, b: Date | null | undefined) => (a && b ? (a < b ? a : b) : (a ?? b ?? null));
const latest = (a: Date | null, b: Date | null | undefined) => (a && b ? (a > b ? a : b) : (a ?? b ?? null));

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

/**
 * Stores one event: in a single transaction it records the event under its id (a redelivery stops
 * there), creates or locks the session, applies what the event changes, and appends relay events
 * (with the next `seq`) and notification intents to the outbox, which the dispatcher publishes
 * after commit. Status only moves forward, and times are kept as the earliest start and latest
 * end reported, so order of arrival does not matter.
 */
export function createEventProcessor({ db, cipher, onOutbox }: Deps) {
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
      toolsUsed: await toolsUsedIn(tx, session.id).then((recorded) => (recorded.length > 0 ? recorded : (completion.conversation?.toolsUsed ?? []))),
      endedReason: values.endedReason ?? session.endedReason,
      vapiSummary: completion.vapiSummary,
    });
    Object.assign(values, {
      transcriptSummary: cipher.encrypt(summary.text),
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

    const notifications = [];
    const ended = relay.find((event) => event.type === 'session_end');
    if (ended) notifications.push({ type: 'session.ended', at, data: ended.data });
    if (change.error) notifications.push({ type: 'session.error', at, data: change.error });
    for (const notification of notifications) await appendNotification(tx, cipher, session, notification);

    const numbered = await appendToOutbox(tx, cipher, session, relay);
    values.lastSeq = session.lastSeq + numbered.length;
    await updateSession(tx, session.id, values);
    return numbered.length > 0 || notifications.length > 0;
  }

  return async function processEvent(job: EventToStore): Promise<ProcessOutcome> {
    const event = readEvent(job);
    // The ingress sends these down the live lane; one queued before that (an upgrade) is not stored either.
    if (isLiveOnly(event)) return 'live-only';
    const receivedAt = new Date(job.meta.receivedAt);
    const change = changeFor(event, receivedAt);
    const at = event.timestamp ?? receivedAt;
    const sessionId = sessionIdOf(event);

    const result = await db.transaction(async (tx) => {
      const session = sessionId ? await lockOrCreateSession(tx, cipher, sessionId, sessionOriginOf(event)) : null;
      const fresh = await recordEvent(tx, {
        id: job.meta.eventId,
        sessionId,
        type: event.type,
        occurredAt: event.timestamp,
        receivedAt,
        // Encrypted on its own: the job's seal is bound to the job's clear fields, which the row does not keep.
        payload: cipher.encrypt(job.body),
      });
      if (!fresh) return { outcome: 'duplicate' as const, wroteOutbox: false };
      const wroteOutbox = session ? await apply(tx, session, change, job.meta.eventId, at) : false;
      return { outcome: 'processed' as const, wroteOutbox };
    });
    if (result.wroteOutbox) onOutbox();
    return result.outcome;
  };
}
