import { endEvent, statusEvent, type SessionEnded } from '#shared/relay';
import { NOTIFICATION_TYPES, type NotificationType } from '#shared/notifications';
import { advanceStatus, toSessionStatus, type SessionStatus } from '#shared/session-status';
import type { TraceCarrier } from '#shared/tracing';
import type { JsonObject } from '#shared/vapi/envelope';
import type { CallerIdentity, Turns } from '#shared/vapi/read';
import { REPORT_MISSING, type Completion, type EventChange, type NewMessage, type PendingRelayEvent } from './event-changes.ts';
import { generateSessionSummary } from './session-summary.ts';

/** Marks a session whose transcript was taken from the end-of-call report's artifact. */
export const BACKFILLED = 'end-of-call-report';

/** Who a session is about, and the caller's number as a keyed hash. */
export interface PatientBinding {
  patientId: string | null;
  patientVerified: boolean;
  callerHash: string | null;
}

/** A caller's number as the patients table knows it: its keyed hash, and the patients whose phone it is. */
export interface KnownCaller {
  hash: string;
  patientIds: string[];
}

/** The columns of a session that its events change, in clear (the sessions repository encrypts). */
export interface SessionState extends PatientBinding {
  id: string;
  status: SessionStatus;
  startedAt: Date | null;
  endedAt: Date | null;
  endedReason: string | null;
  lastEventAt: Date | null;
  metadata: Record<string, unknown>;
}

/** One fresh event of a session, as its batch applies it. */
export interface SessionEvent {
  eventId: string;
  /** Vapi's time for the event, else when it was received. */
  at: Date;
  change: EventChange;
  identity: CallerIdentity;
  /** Its trace (tracing on): what it raises carries it into the outbox. */
  trace?: TraceCarrier;
}

/** What the database held for a session before its batch: messages by role, tools used (first used first). */
export interface StoredRecord {
  turns: Turns;
  toolsUsed: string[];
}

/** What completing a session stores beside its status, in clear; null columns are left as they are. */
export interface SessionCompletion {
  summary: string;
  keyInsights: JsonObject;
  analysis: JsonObject | null;
  recordingUrl: string | null;
  /** `numeric(12,4)` as text. */
  cost: string | null;
}

/** Messages of one event (or of a backfill), stored under ids derived from `eventId`. */
export interface MessageGroup {
  eventId: string;
  messages: NewMessage[];
}

/** A notification intent an event raises, with the patient bound when it did. */
export interface SessionNotification {
  type: NotificationType;
  at: Date;
  data: JsonObject;
  patientId: string | null;
  /** The trace of the event that raised it (tracing on). */
  trace?: TraceCarrier;
}

/** Everything a session's events change: its new state and the rows to append. */
export interface AppliedEvents {
  state: SessionState;
  messages: MessageGroup[];
  relay: PendingRelayEvent[];
  notifications: SessionNotification[];
  completion: SessionCompletion | null;
}

/** The turns of a session with no message stored. */
export const NO_TURNS: Turns = { user: 0, assistant: 0, system: 0 };

const earliest = (a: Date | null, b: Date | null | undefined) => (a && b ? (a < b ? a : b) : (a ?? b ?? null));
const latest = (a: Date | null, b: Date | null | undefined) => (a && b ? (a > b ? a : b) : (a ?? b ?? null));

/** A stored session as its events see it. */
export const stateOf = (row: Omit<SessionState, 'status'> & { status: string }): SessionState => ({
  id: row.id,
  status: toSessionStatus(row.status) ?? 'queued',
  startedAt: row.startedAt,
  endedAt: row.endedAt,
  endedReason: row.endedReason,
  lastEventAt: row.lastEventAt,
  metadata: row.metadata,
  patientId: row.patientId,
  patientVerified: row.patientVerified,
  callerHash: row.callerHash,
});

/**
 * Who the call is about: `call.metadata.patientId`, which our own app sets for a logged-in patient
 * (so it verifies), else the one patient whose phone matches the caller (binds without verifying),
 * else nobody. `callers` holds every caller number of the batch that may need binding.
 */
export function bindingFor({ claimedPatientId, callerNumber }: CallerIdentity, callers: ReadonlyMap<string, KnownCaller>): PatientBinding {
  const caller = callerNumber === undefined ? undefined : callers.get(callerNumber);
  const callerHash = caller?.hash ?? null;
  if (claimedPatientId) return { patientId: claimedPatientId, patientVerified: true, callerHash };
  // Two patients sharing a number (a family phone) is ambiguous: bind neither.
  if (caller?.patientIds.length === 1) return { patientId: caller.patientIds[0]!, patientVerified: false, callerHash };
  return { patientId: null, patientVerified: false, callerHash };
}

/** True when a session without a patient gets identity it has not tried yet. */
export function bringsNewIdentity(binding: PatientBinding, { claimedPatientId, callerNumber }: CallerIdentity): boolean {
  if (binding.patientId) return false;
  return claimedPatientId !== undefined || (callerNumber !== undefined && binding.callerHash === null);
}

/** The session bound by an event that brings identity it lacked (a session created without a patient). */
export function rebind<State extends PatientBinding>(state: State, identity: CallerIdentity, callers: ReadonlyMap<string, KnownCaller>): State {
  if (!bringsNewIdentity(state, identity)) return state;
  const binding = bindingFor(identity, callers);
  return { ...state, ...binding, callerHash: state.callerHash ?? binding.callerHash };
}

/**
 * The end of a call: the transcript backfilled from Vapi's artifact when nothing was stored, the
 * summary (turns from the artifact, else as stored; tools as recorded, else from the artifact), and
 * the `session_end` relay event's data.
 */
export function complete(state: SessionState, completion: Completion, stored: StoredRecord) {
  const backfill = completion.backfill.length > 0 && Object.values(stored.turns).every((n) => n === 0) ? completion.backfill : [];
  const summary = generateSessionSummary({
    startedAt: state.startedAt,
    endedAt: state.endedAt,
    reportedDurationSeconds: completion.reportedDurationSeconds,
    turns: completion.conversation?.turns ?? stored.turns,
    toolsUsed: stored.toolsUsed.length > 0 ? stored.toolsUsed : (completion.conversation?.toolsUsed ?? []),
    endedReason: state.endedReason,
    vapiSummary: completion.vapiSummary,
  });
  const stores: SessionCompletion = {
    summary: summary.text,
    keyInsights: {
      durationSeconds: summary.durationSeconds,
      turns: summary.turns,
      toolsUsed: summary.toolsUsed,
      endedReason: summary.endedReason,
      ...(completion.successEvaluation !== null ? { successEvaluation: completion.successEvaluation } : {}),
      ...(completion.cost !== null ? { cost: completion.cost } : {}),
    },
    analysis: completion.analysis,
    recordingUrl: completion.recordingUrl,
    cost: completion.cost !== null ? completion.cost.toFixed(4) : null,
  };
  const ended: SessionEnded = {
    sessionId: state.id,
    status: 'ended',
    summary: summary.text,
    durationSeconds: summary.durationSeconds,
    endedReason: summary.endedReason,
  };
  return { backfill, completion: stores, ended };
}

const addTurns = (turns: Turns, messages: NewMessage[]): Turns => messages.reduce((sum, message) => ({ ...sum, [message.role]: sum[message.role] + 1 }), turns);

/**
 * Applies one session's fresh events in the order they reached the batch. Status only moves
 * forward, times are the earliest start and latest end reported, a late live transcript is dropped
 * once Vapi's own record was stored, a repeated end report neither summarises nor announces the end
 * twice (Vapi's report after a reconciliation replaces the summary once, silently:
 * docs/reliability.md), and an event bringing identity binds a session created without a patient.
 * What the batch itself stores counts as stored for the events after it.
 */
export function applyEvents(initial: SessionState, events: SessionEvent[], stored: StoredRecord, callers: ReadonlyMap<string, KnownCaller>): AppliedEvents {
  const applied: AppliedEvents = { state: initial, messages: [], relay: [], notifications: [], completion: null };
  let turns = stored.turns;
  for (const { eventId, at, change, identity, trace } of events) {
    const traced = <T extends object>(item: T): T => (trace ? { ...item, trace } : item);
    const session = rebind(applied.state, identity, callers);
    const current = session.status;
    // An end announced once (a report, or a reconciliation) is never announced again.
    const announced = current === 'completed' || session.metadata.reconciled !== undefined;
    // Vapi's own report after a reconciliation: its record replaces ours, once, and nobody is told again.
    const late =
      change.completion !== undefined && !change.reconciled && session.metadata.reconciled !== undefined && session.metadata.lateReport === undefined;
    const status = change.status ? advanceStatus(current, change.status) : current;
    let state: SessionState = {
      ...session,
      status,
      startedAt: earliest(session.startedAt, change.startedAt),
      endedAt: latest(session.endedAt, change.endedAt) ?? (status === 'ended' || status === 'completed' ? at : null),
      endedReason: (late && session.endedReason === REPORT_MISSING ? change.endedReason : null) ?? session.endedReason ?? change.endedReason ?? null,
      lastEventAt: latest(session.lastEventAt, at),
    };
    // Once Vapi's own record of the conversation is stored, a late live transcript would repeat it.
    if (session.metadata.transcriptFrom !== BACKFILLED && change.messages.length > 0) {
      applied.messages.push({ eventId, messages: change.messages });
      turns = addTurns(turns, change.messages);
    }

    const relay: PendingRelayEvent[] = [];
    if (status !== current) relay.push({ ...statusEvent(status, state.endedReason), at });
    relay.push(...change.relay);
    // A repeated end report (a second `call-end`, say) must not summarise or announce the end twice.
    if (change.completion && (!announced || late)) {
      const done = complete(state, change.completion, { turns, toolsUsed: stored.toolsUsed });
      if (done.backfill.length > 0) {
        applied.messages.push({ eventId: `backfill.${state.id}`, messages: done.backfill });
        turns = addTurns(turns, done.backfill);
        state = { ...state, metadata: { ...state.metadata, transcriptFrom: BACKFILLED } };
      }
      applied.completion = done.completion;
      if (late) {
        state = { ...state, metadata: { ...state.metadata, lateReport: at.toISOString() } };
      } else {
        const ended = change.reconciled ? { ...done.ended, reconciled: change.reconciled } : done.ended;
        if (change.reconciled) state = { ...state, metadata: { ...state.metadata, reconciled: change.reconciled } };
        relay.push({ ...endEvent(ended), at });
        applied.notifications.push(traced({ type: NOTIFICATION_TYPES.ended, at, data: ended, patientId: state.patientId }));
      }
    }
    if (change.error) applied.notifications.push(traced({ type: NOTIFICATION_TYPES.error, at, data: change.error, patientId: state.patientId }));
    applied.relay.push(...(trace ? relay.map(traced) : relay));
    applied.state = state;
  }
  return applied;
}
