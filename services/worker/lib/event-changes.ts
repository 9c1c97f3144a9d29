import { errorEvent, transcriptEvent, type RelayBody } from '#shared/relay';
import type { TraceCarrier } from '#shared/tracing';
import { toSessionStatus, type SessionStatus } from '#shared/session-status';
import { num, obj, str, type IncomingEvent, type JsonObject } from '#shared/vapi/envelope';
import { conversationOf, isFinalTranscript, readConversation, toRole, utteranceText, type Role, type Turns } from '#shared/vapi/read';
import { parseTimestamp } from '#shared/vapi/timestamp';

export interface NewMessage {
  role: Role;
  transcript: string;
  timestamp: Date;
  metadata: JsonObject;
}

/** A relay event to store in the outbox, built by the builders of `shared/relay.ts`; with the trace of the event that raised it (tracing on). */
export type PendingRelayEvent = RelayBody & { at: Date; trace?: TraceCarrier };

/** What an end-of-call event brings; the processor completes it with what only the database knows. */
export interface Completion {
  vapiSummary: string | null;
  analysis: JsonObject | null;
  /** USD, within what `numeric(12,4)` holds. */
  cost: number | null;
  /** Vapi's rubric result as a string, when it is a code (`true`, `8`, `Pass`); prose stays in `analysis`. */
  successEvaluation: string | null;
  recordingUrl: string | null;
  reportedDurationSeconds: number | undefined;
  /** Turns and tools counted from Vapi's artifact; null means "count the stored messages". */
  conversation: { turns: Turns; toolsUsed: string[] } | null;
  /** The artifact's conversation, stored when no transcript event arrived during the call. */
  backfill: NewMessage[];
}

/**
 * How a silent call was ended by the reconciler: completed from Vapi's `GET /call` (`vapi-api`), or
 * ended without its report (`timeout`, `ended_reason` `report-missing`).
 */
export type Reconciled = 'vapi-api' | 'timeout';

export const REPORT_MISSING = 'report-missing';

/** Everything one event changes, computed from the event alone (no I/O), applied by the processor. */
export interface EventChange {
  status?: SessionStatus;
  startedAt?: Date | null;
  endedAt?: Date | null;
  endedReason?: string | null;
  messages: NewMessage[];
  /** Stored in the outbox with a `seq`, then published. */
  relay: PendingRelayEvent[];
  /** A terminal error to notify other systems of (the story's `error` event). */
  error?: JsonObject;
  completion?: Completion;
  /** Set on the report the reconciler built for a call whose own report never came. */
  reconciled?: Reconciled;
}

/** A cost Vapi could have charged for one call; anything else is not stored. */
const usd = (value: unknown) => {
  const amount = num(value);
  // Compared after rounding to the column's scale: 99999999.99999 would round up past numeric(12,4).
  return amount !== undefined && amount >= 0 && Number(amount.toFixed(4)) < 1e8 ? amount : undefined;
};

/**
 * A value shaped like a code (`customer-ended-call`, `call.in-progress.error-…`, `true`, `8`), for
 * the columns stored in clear: free text, which could say anything about the patient, is not kept.
 */
const codeLike = (value: unknown) => {
  const text = typeof value === 'number' || typeof value === 'boolean' ? String(value) : str(value);
  return text && /^[\w.-]{1,128}$/.test(text) ? text : undefined;
};

const change = (partial: Partial<EventChange> = {}): EventChange => ({ messages: [], relay: [], ...partial });

/** A final utterance: stored, and relayed with a `seq`. Partials never get here (they take the live lane). */
function transcriptChange(m: JsonObject, type: string, at: Date): EventChange {
  const role = toRole(m.role);
  const transcript = utteranceText(m);
  if (!role || !transcript || !isFinalTranscript(type, m)) return change();
  const metadata = { transcriptType: 'final', ...(m.isFiltered === true ? { isFiltered: true } : {}) };
  return change({ messages: [{ role, transcript, timestamp: at, metadata }], relay: [{ ...transcriptEvent(role, transcript, at, true), at }] });
}

function statusChange(m: JsonObject, at: Date): EventChange {
  const call = obj(m.call);
  const status = toSessionStatus(m.status ?? call.status);
  if (!status) return change();
  return change({
    status,
    ...(status === 'in-progress' ? { startedAt: parseTimestamp(call.startedAt) ?? at } : {}),
    ...(status === 'ended' ? { endedAt: parseTimestamp(call.endedAt) ?? at, endedReason: codeLike(m.endedReason) ?? codeLike(call.endedReason) ?? null } : {}),
  });
}

/** The report's conversation; its `system` item is the assistant's prompt, not something said. */
function backfillFrom(conversation: JsonObject[]): NewMessage[] {
  return conversation.flatMap((m) => {
    const role = toRole(m.role);
    if (role === 'system') return [];
    const transcript = str(m.message);
    const timestamp = parseTimestamp(m.time);
    return role && transcript && timestamp ? [{ role, transcript, timestamp, metadata: { source: 'end-of-call-report' } }] : [];
  });
}

const reconciledAs = (value: unknown): Reconciled | undefined => (value === 'vapi-api' || value === 'timeout' ? value : undefined);

/**
 * Vapi's end-of-call report, in today's layout (`artifact`, `analysis`) or the legacy flat one; or
 * the one the reconciler built (`reconciled`), from `GET /call` or, without it, as `report-missing`,
 * which ends the session without completing it (a real report may still come and complete it).
 */
function endOfCallChange(m: JsonObject, reconciled: Reconciled | undefined): EventChange {
  const call = obj(m.call);
  const artifact = { ...m, ...obj(m.artifact) };
  const conversation = conversationOf(m);
  const analysis = obj(m.analysis);
  const recording = obj(artifact.recording);
  return change({
    ...(reconciled ? { reconciled } : {}),
    status: reconciled === 'timeout' ? 'ended' : 'completed',
    startedAt: parseTimestamp(m.startedAt) ?? parseTimestamp(call.startedAt),
    // Not `at`: the report comes seconds after the call ended, which a status update may already have said.
    endedAt: parseTimestamp(m.endedAt) ?? parseTimestamp(call.endedAt),
    endedReason: codeLike(m.endedReason) ?? codeLike(call.endedReason) ?? null,
    completion: {
      vapiSummary: str(analysis.summary) ?? str(m.summary) ?? null,
      analysis: Object.keys(analysis).length > 0 ? analysis : null,
      cost: usd(m.cost) ?? usd(call.cost) ?? null,
      successEvaluation: codeLike(analysis.successEvaluation) ?? null,
      recordingUrl: str(recording.stereoUrl) ?? str(obj(recording.mono).combinedUrl) ?? str(artifact.recordingUrl) ?? str(artifact.stereoRecordingUrl) ?? null,
      reportedDurationSeconds: num(m.durationSeconds),
      conversation: readConversation(conversation),
      backfill: backfillFrom(conversation),
    },
  });
}

/** The story's `call-end`: the call is over; its summary is built from what was stored. */
function storyCallEndChange(d: JsonObject, at: Date): EventChange {
  return change({
    status: 'completed',
    endedAt: at,
    endedReason: codeLike(d.endedReason) ?? codeLike(d.reason) ?? null,
    completion: {
      vapiSummary: str(d.summary) ?? null,
      analysis: null,
      cost: null,
      successEvaluation: null,
      recordingUrl: null,
      reportedDurationSeconds: num(d.durationSeconds) ?? num(d.duration),
      conversation: null,
      backfill: [],
    },
  });
}

/**
 * What an event changes. Types that only need recording (conversation updates, hang, model
 * output, interruptions, tool calls, anything unknown) change nothing beyond the event log.
 * `fromReconciler` says the job came from the worker's reconciler (its sealed clear fields say so):
 * only then is a report's `reconciled` mark believed, never from a webhook's body.
 */
export function changeFor(event: IncomingEvent, receivedAt: Date, fromReconciler = false): EventChange {
  const at = event.timestamp ?? receivedAt;
  const m = event.message;
  if (event.source === 'story') {
    switch (event.type) {
      case 'message': {
        // `data` may carry the utterance itself or nest it under `message`; a story message is always
        // final, and is stored whatever its role: missing means the assistant, unknown a system line.
        const utterance = { ...m, ...obj(m.message) };
        const role = toRole(utterance.role) ?? (utterance.role === undefined ? 'assistant' : 'system');
        return transcriptChange({ ...utterance, role, transcriptType: 'final' }, event.type, parseTimestamp(utterance.timestamp) ?? at);
      }
      case 'call-end':
        return storyCallEndChange(m, at);
      case 'error': {
        const data = { code: codeLike(m.code) ?? 'ERROR', message: str(m.message) ?? str(m.error) ?? 'Error' };
        const relay = errorEvent(data.code, data.message);
        return change({ relay: [{ ...relay, at }], error: relay.data });
      }
      default:
        return change();
    }
  }
  if (event.type.startsWith('transcript')) return transcriptChange(m, event.type, at);
  switch (event.type) {
    case 'status-update':
      return statusChange(m, at);
    case 'end-of-call-report':
      return endOfCallChange(m, fromReconciler ? reconciledAs(m.reconciled) : undefined);
    default:
      return change();
  }
}
