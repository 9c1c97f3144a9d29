import type { IncomingEvent } from './envelope.ts';
import { isFinalTranscript } from './read.ts';

/**
 * Where an event goes: the event log and the worker (`durable`), or straight to the relay, never
 * stored nor numbered (`live`: a late partial is worthless, the final replaces it).
 * `live-until-final` is a transcript: partials are live, the final one (which replaces them) is durable.
 */
type LaneRule = 'durable' | 'live' | 'live-until-final';
export type Lane = 'durable' | 'live';

/**
 * What the ingress answers once the event is durable: `{"received": true}`, the results of the
 * tool round trip (tool-replies.ts), or the type's own reply (sync-replies.ts, one builder per type).
 */
export type Answer = 'received' | 'tools' | 'reply';

/**
 * How a redelivery is recognised when no signed delivery id names it (event-id.ts): by what the
 * event says minus its volatile parts (`content`), as the one of its kind per call (`once-per-call`,
 * by content when it names no call), or by its raw bytes, which its sender repeats verbatim (`body`).
 */
export type Dedup = 'content' | 'once-per-call' | 'body';

/** What one message type does: its lane, whether it must name its call, what is answered, its dedup rule. */
export interface MessageType {
  lane: Lane;
  /** Means nothing without the call it belongs to: refused (400) when it names none. */
  callBound: boolean;
  answer: Answer;
  dedup: Dedup;
}

interface MessageTypeRule extends Omit<MessageType, 'lane'> {
  lane: LaneRule;
}

/** Rows of a table: how each type differs from its envelope's default. */
type Rows = Record<string, Partial<MessageTypeRule>>;

const VAPI_DEFAULT: MessageTypeRule = { lane: 'durable', callBound: false, answer: 'received', dedup: 'content' };
const STORY_DEFAULT: MessageTypeRule = { lane: 'durable', callBound: false, answer: 'received', dedup: 'body' };

const CALL_BOUND = { callBound: true } as const;
const REPLY = { answer: 'reply' } as const;
const TOOLS = { answer: 'tools' } as const;

/**
 * Every `message.type` Vapi documents (https://docs.vapi.ai/server-url/events); a row says how the type differs from
 * `VAPI_DEFAULT`. Tool calls are not call-bound: the assistant waits on every one, so one that names
 * no call (Vapi's dashboard tool tester) is answered too, by the tools that need no patient.
 * Adding a type is one row here (and a reply builder in sync-replies.ts when it is answered).
 */
const VAPI_TYPES = {
  'assistant-request': REPLY,
  'status-update': CALL_BOUND,
  transcript: { lane: 'live-until-final', callBound: true },
  'transcript[transcriptType="final"]': CALL_BOUND,
  'speech-update': { lane: 'live', callBound: true },
  'conversation-update': CALL_BOUND,
  'model-output': {},
  'user-interrupted': {},
  'tool-calls': TOOLS,
  'function-call': TOOLS,
  hang: {},
  'end-of-call-report': { callBound: true, dedup: 'once-per-call' },
  'transfer-destination-request': REPLY,
  'handoff-destination-request': REPLY,
  'transfer-update': {},
  'phone-call-control': {},
  'knowledge-base-request': REPLY,
  'language-changed': {},
  'language-change-detected': {},
  'voice-input': {},
  'assistant.started': {},
  'assistant.speechStarted': {},
  'voice-request': REPLY,
  'call.endpointing.request': REPLY,
  'chat.created': {},
  'chat.deleted': {},
  'session.created': {},
  'session.updated': {},
  'session.deleted': {},
  'call.deleted': {},
  'call.delete.failed': {},
  'call.artifact.upload': {},
  'campaign.predial': REPLY,
} as const satisfies Rows;

/** The story's envelope types (`{type, data}`); a row says how the type differs from `STORY_DEFAULT`. */
const STORY_TYPES = {
  message: CALL_BOUND,
  'call-end': CALL_BOUND,
  'function-call': TOOLS,
  error: {},
} as const satisfies Rows;

type VapiTypes = typeof VAPI_TYPES;

/** The types answered with a reply of their own: sync-replies.ts has one builder for each. */
export type RepliedType = {
  [T in keyof VapiTypes]: VapiTypes[T] extends { answer: 'reply' } ? T : never;
}[keyof VapiTypes];

type Row = Partial<MessageTypeRule> | undefined;

const rowOf = (rows: Rows, type: string): Row => (Object.hasOwn(rows, type) ? rows[type] : undefined);

/** Vapi's row for a type; any `transcript…` variant (`transcript[transcriptType="partial"]`, say) is a transcript. */
const vapiRowOf = (type: string): Row => rowOf(VAPI_TYPES, type) ?? (type.startsWith('transcript') ? VAPI_TYPES.transcript : undefined);

function ruleOf(event: IncomingEvent): MessageTypeRule {
  if (event.source === 'vapi') return { ...VAPI_DEFAULT, ...vapiRowOf(event.type) };
  const own = rowOf(STORY_TYPES, event.type);
  // A Vapi type in the story's envelope is stored as the story's, and answered as Vapi would be answered.
  return { ...STORY_DEFAULT, ...(own ?? { answer: vapiRowOf(event.type)?.answer ?? STORY_DEFAULT.answer }) };
}

/** What an event's type does (unknown types are informational: durable, not call-bound, answered `received`). */
export function messageTypeOf(event: IncomingEvent): MessageType {
  const { lane, ...rule } = ruleOf(event);
  if (lane !== 'live-until-final') return { ...rule, lane };
  return { ...rule, lane: isFinalTranscript(event.type, event.message) ? 'durable' : 'live' };
}

export const laneOf = (event: IncomingEvent): Lane => messageTypeOf(event).lane;

/** True when the event's type needs a call id (`call.id`, `data.sessionId`) and it has none. */
export const lacksCallId = (event: IncomingEvent): boolean => event.callId === null && messageTypeOf(event).callBound;

/** True when the event is answered with a reply of its own type (sync-replies.ts). */
export const isReplied = (event: IncomingEvent): event is IncomingEvent & { type: RepliedType } => messageTypeOf(event).answer === 'reply';

/** Type names fit for a metric label: the table's. */
const KNOWN_TYPES: ReadonlySet<string> = new Set([...Object.keys(VAPI_TYPES), ...Object.keys(STORY_TYPES)]);

/** An event type fit for a metric label: a known one, else `other` (the type is the sender's to choose). */
export const metricType = (type: string | undefined): string => (type && KNOWN_TYPES.has(type) ? type : type === undefined ? 'unknown' : 'other');
